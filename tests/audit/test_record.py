import gc
import json
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from audit.chain import (
    GENESIS_HASH,
    canonical_json,
    chain_key_from_secret,
    event_hash,
    legacy_event_hash,
)
from audit.client import client_ip
from audit.events import AuditEventType
from audit.integrity import chain_verify
from audit.models import AuditChain, AuditEvent
from audit.services import AuditEventSpec, audit_event_record, audit_events_record_bulk


@pytest.mark.parametrize(
    "proxies, forwarded, remote, expected",
    [
        (0, "198.51.100.1", "10.0.0.5", "10.0.0.5"),
        (1, "198.51.100.1", "10.0.0.5", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "10.0.0.5", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.9", "10.0.0.5", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.5", "10.0.0.5"),
        (1, "not-an-ip", "10.0.0.5", "10.0.0.5"),
        (1, "", "10.0.0.5", "10.0.0.5"),
    ],
)
def test_client_ip_reads_forwarded_for_only_as_deep_as_trusted(
    settings, proxies, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)

    assert client_ip(request) == expected


def test_recorded_values_have_control_characters_escaped(technician):
    request = RequestFactory().get("/", HTTP_USER_AGENT="evil\r\nX-Injected: 1\x1b[2J")

    event = audit_event_record(
        event=AuditEventType.SIGN_IN_FAILED,
        actor=None,
        tenant=technician.tenant,
        target=technician,
        request=request,
        details={"email": "a\nb@example.com", "list": ["\x07"]},
    )

    event.refresh_from_db()
    assert event.user_agent == "evil\\x0d\\x0aX-Injected: 1\\x1b[2J"
    assert event.details == {"email": "a\\x0ab@example.com", "list": ["\\x07"]}
    assert event.target_label == technician.email


def test_recording_costs_at_most_two_queries(technician, django_assert_max_num_queries):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_USER_AGENT="Firefox")
    audit_event_record(event=AuditEventType.SIGNED_OUT, actor=technician, tenant=None)

    with django_assert_max_num_queries(2):
        audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=technician,
            tenant=technician.tenant,
            target=technician,
            request=request,
        )


def test_each_tenant_and_the_platform_get_their_own_chain(tenant, other_tenant):
    first = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    other = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=other_tenant)
    platform = audit_event_record(event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=None)
    second = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)

    # The tenant factory's own events aren't audited, so every chain starts here.
    assert (first.sequence, second.sequence) == (1, 2)
    assert other.sequence == 1
    assert platform.sequence == 1
    assert second.hash == event_hash(
        previous_hash=first.hash,
        tenant_id=tenant.pk,
        sequence=2,
        event=AuditEventType.ADMIN_ACTION,
        created_at=second.created_at,
        actor_id=None,
        actor_label="",
        target_id=None,
        target_label="",
        ip=None,
        user_agent="",
        details={},
    )
    assert first.hash == event_hash(
        previous_hash=GENESIS_HASH,
        tenant_id=tenant.pk,
        sequence=1,
        event=AuditEventType.ADMIN_ACTION,
        created_at=first.created_at,
        actor_id=None,
        actor_label="",
        target_id=None,
        target_label="",
        ip=None,
        user_agent="",
        details={},
    )
    chain = AuditChain.objects.get(key=tenant.pk)
    assert (chain.length, chain.head_hash) == (2, second.hash)


def test_event_rolls_back_with_the_change_it_describes(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
        raise RuntimeError("the change failed")

    assert not AuditEvent.objects.filter(tenant=tenant).exists()
    assert not AuditChain.objects.filter(key=tenant.pk, length__gt=0).exists()
    again = audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
    assert again.sequence == 1


def test_stored_event_hashes_the_same_after_a_round_trip_through_the_database(technician):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="2001:0db8:0000::0001", HTTP_USER_AGENT="Café/1.0 ☃"
    )
    event = audit_event_record(
        event=AuditEventType.ROLE_EDITED,
        actor=technician,
        tenant=technician.tenant,
        target=technician,
        request=request,
        details={"zeta": 1, "alpha": {"b": [1.5, 1e20, True, None], "a": "ü"}, "n": 15.0},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.ip == "2001:db8::1"
    assert stored.hash == event_hash(
        previous_hash=GENESIS_HASH,
        tenant_id=stored.tenant_id,
        sequence=stored.sequence,
        event=stored.event,
        created_at=stored.created_at,
        actor_id=stored.actor_id,
        actor_label=stored.actor_label,
        target_id=stored.target_id,
        target_label=stored.target_label,
        ip=stored.ip,
        user_agent=stored.user_agent,
        details=stored.details,
    )


def test_canonical_serialisation_is_pinned():
    """These bytes are in every stored hash: changing them breaks every existing chain."""
    assert (
        canonical_json({"b": [1, 1.0, 1e20, 0.1, True, None, "é☃"], "a": {"z": 2, "y": -0.00001}})
        == '{"a":{"y":-0.00001,"z":2},"b":[1,1,100000000000000000000,0.1,true,null,'
        '"\\u00e9\\u2603"]}'
    )
    fields = {
        "tenant_id": 7,
        "sequence": 3,
        "event": 100,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC),
        "actor_id": 5,
        "actor_label": "a@example.com",
        "target_id": 5,
        "target_label": "a@example.com",
        "ip": "2001:0db8::0001",
        "user_agent": "Firefox",
        "details": {"b": 1, "a": [1.5, "x"]},
    }
    # The unkeyed SHA-256 of version 1, which audit migration 0012 checks before re-hashing.
    assert (
        legacy_event_hash(previous_hash=GENESIS_HASH, **fields)
        == "0ac6c32cdab64134c4222170826dd353b8066c6c97af73401f200ba41d4857eb"
    )
    key = chain_key_from_secret("pinned-test-key")
    assert key.id == "3b3405d465c8"
    assert (
        event_hash(previous_hash=GENESIS_HASH, key=key, **fields)
        == "820f127430c4dd7ed59925e3bd63058b9b55fcaf858cf1e623e13f2b2b9697ff"
    )


def test_bulk_recording_keeps_every_chain_intact(tenant, other_tenant, technician):
    specs = [
        AuditEventSpec(
            event=AuditEventType.SESSION_EXPIRED,
            tenant=tenant if index % 3 else other_tenant,
            target=technician,
            details={"index": index},
        )
        for index in range(1200)
    ]
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)

    with CaptureQueriesContext(connection) as queries:
        recorded = audit_events_record_bulk(specs)

    # One statement locks both chains, one inserts every row.
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum("audit_auditchain" in sql for sql in statements) == 1
    assert len(statements) == 2
    assert recorded == 1200
    assert list(
        AuditEvent.objects.for_tenant(tenant).order_by("sequence").values_list("sequence")[:2]
    ) == [(1,), (2,)]
    assert AuditChain.objects.get(key=tenant.pk).length == 801
    assert AuditChain.objects.get(key=other_tenant.pk).length == 400
    for tenant_with_chain in (tenant, other_tenant):
        chain = AuditChain.objects.get(key=tenant_with_chain.pk)
        assert chain_verify(tenant=tenant_with_chain, chain=chain).intact


@pytest.mark.parametrize(
    "details, stored",
    [
        (
            [{"n": 1}, {"n": True}, {"n": 1.5}, {"n": "1"}, {"n": 1}, {"n": False}, {"n": 0}],
            [{"n": 1}, {"n": True}, {"n": 1.5}, {"n": "1"}, {"n": 1}, {"n": False}, {"n": 0}],
        ),
        (
            [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": [1, {"x": None}]}, {"a": (1, 2)}],
            [{"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": [1, {"x": None}]}, {"a": [1, 2]}],
        ),
        (
            [{"who": "line\nbreak"}, {"who": "line\\nbreak"}, None, {}],
            [{"who": "line\\x0abreak"}, {"who": "line\\nbreak"}, {}, {}],
        ),
    ],
)
def test_bulk_details_keep_their_own_spelling_when_they_compare_equal(tenant, details, stored):
    specs = [
        AuditEventSpec(event=AuditEventType.ADMIN_ACTION, tenant=tenant, details=item)
        for item in details
    ]

    audit_events_record_bulk(specs)

    events = AuditEvent.objects.for_tenant(tenant).order_by("sequence")
    # Compared as JSON text: True == 1 in Python, but not in the log.
    assert [json.dumps(event.details) for event in events] == [json.dumps(item) for item in stored]
    assert chain_verify(tenant=tenant, chain=AuditChain.objects.get(key=tenant.pk)).intact


def test_bulk_runs_the_callers_own_work_in_the_same_transaction(tenant, technician):
    specs = [
        AuditEventSpec(event=AuditEventType.SESSION_EXPIRED, tenant=tenant, target=technician)
    ] * 300
    ran = []

    recorded = audit_events_record_bulk(
        specs, meanwhile=lambda: ran.append(connection.in_atomic_block)
    )

    assert ran == [True]
    assert recorded == 300
    assert chain_verify(tenant=tenant, chain=AuditChain.objects.get(key=tenant.pk)).intact


def test_a_failure_in_the_callers_own_work_records_nothing(tenant, technician):
    specs = [
        AuditEventSpec(event=AuditEventType.SESSION_EXPIRED, tenant=tenant, target=technician)
    ] * 300
    technician_id = technician.pk

    def fails():
        technician.delete()
        raise RuntimeError("the caller's statement failed")

    with pytest.raises(RuntimeError, match="caller's statement failed"), transaction.atomic():
        audit_events_record_bulk(specs, meanwhile=fails)

    assert not AuditEvent.objects.for_tenant(tenant).exists()
    assert type(technician).objects.filter(pk=technician_id).exists()


def test_a_failure_while_hashing_undoes_the_callers_own_work(tenant, technician):
    specs = [
        AuditEventSpec(event=AuditEventType.ADMIN_ACTION, tenant=tenant, details={"n": n})
        for n in range(299)
    ] + [AuditEventSpec(event=AuditEventType.ADMIN_ACTION, tenant=tenant, details={"x": {1, 2}})]
    technician_id = technician.pk

    with pytest.raises(TypeError, match="set"), transaction.atomic():
        audit_events_record_bulk(specs, meanwhile=technician.delete)

    assert not AuditEvent.objects.for_tenant(tenant).exists()
    assert type(technician).objects.filter(pk=technician_id).exists()


def test_the_garbage_collector_is_back_on_after_a_bulk_job_even_a_failed_one(tenant):
    specs = [AuditEventSpec(event=AuditEventType.ADMIN_ACTION, tenant=tenant, details={"x": 1j})]

    audit_events_record_bulk([specs[0]._replace(details={"x": 1})])
    assert gc.isenabled()
    with pytest.raises(TypeError, match="complex"), transaction.atomic():
        audit_events_record_bulk(specs)
    assert gc.isenabled()

    gc.disable()
    try:
        audit_events_record_bulk([specs[0]._replace(details={"x": 2})])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_deleting_a_person_keeps_their_events_and_labels(owner, technician):
    event = audit_event_record(
        event=AuditEventType.PERSON_DEACTIVATED,
        actor=owner,
        tenant=owner.tenant,
        target=technician,
    )

    technician.delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.target_label == "tech@northwind.example"
    assert stored.target_id == event.target_id
    chain = AuditChain.objects.get(key=owner.tenant_id)
    assert chain_verify(tenant=owner.tenant, chain=chain).intact


def test_escaped_user_agent_is_cut_to_the_column_length(technician):
    request = RequestFactory().get("/", HTTP_USER_AGENT="\x01" * 600)

    event = audit_event_record(
        event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=None, request=request
    )

    assert len(AuditEvent.objects.get(pk=event.pk).user_agent) == 512


@pytest.mark.parametrize("value", [0, 1, -1, 7, 100, 10**20, -(10**25), 2**63 - 1])
def test_integers_take_the_fast_path_to_the_same_spelling(value):
    from decimal import Decimal

    normal = Decimal(str(value)).normalize()

    assert canonical_json(value) == format(normal, "f")
