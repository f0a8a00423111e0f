"""The chain is an HMAC under AUDIT_CHAIN_KEY: the database alone can't forge it, and the key
can be rotated without breaking what was hashed before."""

import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from audit import integrity
from audit.chain import chain_key_from_secret, link_hash
from audit.events import AuditEventType
from audit.models import AuditChain, AuditEvent
from audit.services import audit_event_record, audit_retention_apply

OLD_KEY = "old-audit-chain-key-for-tests-only-0123456789-abcdefghijklmnop"
NEW_KEY = "new-audit-chain-key-for-tests-only-9876543210-zyxwvutsrqponmlk"
ATTACKER_KEY = "a-key-someone-with-only-database-access-guessed-0123456789"


def record(tenant, count: int, **details) -> list[AuditEvent]:
    return [
        audit_event_record(
            event=AuditEventType.ADMIN_ACTION,
            actor=None,
            tenant=tenant,
            details={**details, "n": n},
        )
        for n in range(count)
    ]


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit_log", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def verify_fails() -> str:
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_log", stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def rewrite(sql: str, params) -> None:
    """Change rows the way the table's owner could: around the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


@override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[])
def test_each_event_names_the_key_it_was_hashed_with_not_the_key(tenant):
    (event,) = record(tenant, 1)

    assert event.hash_key_id == chain_key_from_secret(OLD_KEY).id
    assert OLD_KEY not in event.hash_key_id
    assert AuditEvent.objects.get(pk=event.pk).hash_key_id == event.hash_key_id


def test_verify_fails_with_the_wrong_key(tenant):
    with override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        events = record(tenant, 3)
        assert "3 events" in verify()

    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        err = verify_fails()

    assert f"event #{events[0].pk} (sequence 1," in err
    assert f"key id {chain_key_from_secret(OLD_KEY).id}" in err
    assert "AUDIT_CHAIN_KEY_FALLBACKS" in err


@override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[])
def test_a_chain_rewritten_without_the_key_fails(tenant):
    """Someone with the database alone edits an event and recomputes every link after it with
    a key of their own, naming the site's key id: the first edited link doesn't match."""
    events = record(tenant, 4)
    forged = chain_key_from_secret(ATTACKER_KEY)
    previous = events[0].hash
    for event in events[1:]:
        event.refresh_from_db()
        details = {"n": 99} if event.pk == events[1].pk else event.details
        content = (
            f"[2,{tenant.pk},{event.sequence},{event.event},"
            f'"{event.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}",null,"",null,"",null,"",'
            f'{{"n":{details["n"]}}}]'
        )
        previous = link_hash(key=forged, previous_hash=previous, content=content)
        rewrite(
            "UPDATE audit_auditevent SET hash = %s, details = %s WHERE id = %s",
            [previous, f'{{"n": {details["n"]}}}', event.pk],
        )
    AuditChain.objects.filter(key=tenant.pk).update(head_hash=previous)

    err = verify_fails()

    assert f"event #{events[1].pk} (sequence 2," in err
    assert "does not match its hash" in err


def test_verify_passes_after_a_key_rotation(tenant, other_tenant):
    with override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        before = record(tenant, 3) + record(other_tenant, 2)

    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[OLD_KEY]):
        after = record(tenant, 3) + record(None, 1)
        out = verify()

    assert out == "Audit log intact: 9 events in 3 chains.\n"
    assert {event.hash_key_id for event in before} == {chain_key_from_secret(OLD_KEY).id}
    assert {event.hash_key_id for event in after} == {chain_key_from_secret(NEW_KEY).id}
    # The first link under the new key follows the last one under the old.
    assert after[0].sequence == 4
    assert after[0].hash == link_hash(
        key=chain_key_from_secret(NEW_KEY),
        previous_hash=before[2].hash,
        content=integrity.event_content(
            tenant_id=tenant.pk,
            sequence=4,
            event=AuditEventType.ADMIN_ACTION,
            created_at=after[0].created_at,
            actor_id=None,
            actor_label="",
            target_id=None,
            target_label="",
            ip=None,
            user_agent="",
            details={"n": 0},
        ),
    )


def test_a_retention_checkpoint_signed_with_a_retired_key_still_verifies(tenant):
    tenant.audit_retention_months = 12
    tenant.save()
    with override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        with time_machine.travel(datetime(2024, 1, 1, tzinfo=UTC), tick=False):
            record(tenant, 3)
        with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False):
            record(tenant, 2)
            assert audit_retention_apply(tenant=tenant) == 3
    chain = AuditChain.objects.get(key=tenant.pk)
    assert chain.checkpoint_signature.startswith(chain_key_from_secret(OLD_KEY).id + ":")

    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[OLD_KEY]):
        record(tenant, 1)
        # The retention cut's checkpoint (old key) starts the default run; --full reads all.
        assert "1 events" in verify()
        assert "4 events" in verify("--full")
    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        assert "checkpoint at sequence 3 is not signed" in verify_fails()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_large_log_is_checked_by_parallel_processes(tenant, other_tenant, monkeypatch):
    """Segments of a few events each, in worker processes with connections of their own: the
    intact log passes, and a changed event in the middle of a segment is named."""
    monkeypatch.setattr(integrity, "SEGMENT_SIZE", 4)
    monkeypatch.setattr(integrity, "PARALLEL_MIN_EVENTS", 1)
    started = []
    real_pool = integrity.multiprocessing.get_context("fork").Pool

    class CountingContext:
        def Pool(self, **options):  # noqa: N802 - multiprocessing's name
            started.append(options["processes"])
            return real_pool(**options)

    monkeypatch.setattr(integrity.multiprocessing, "get_context", lambda _: CountingContext())
    events = record(tenant, 13, email="tech@northwind.example")
    record(other_tenant, 6)
    record(None, 2)

    assert verify() == "Audit log intact: 21 events in 3 chains.\n"
    assert started

    rewrite("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 1}', events[9].pk])
    err = verify_fails()

    assert f"event #{events[9].pk} (sequence 10," in err
    assert "platform events" not in err


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_check_finds_events_removed_at_a_segment_boundary(tenant, monkeypatch):
    monkeypatch.setattr(integrity, "SEGMENT_SIZE", 4)
    monkeypatch.setattr(integrity, "PARALLEL_MIN_EVENTS", 1)
    events = record(tenant, 12)

    rewrite(
        "DELETE FROM audit_auditevent WHERE id IN (%s, %s, %s)",
        [events[3].pk, events[4].pk, events[5].pk],
    )
    err = verify_fails()

    assert f"event #{events[6].pk} (sequence 7," in err
    assert "follows sequence 3: the events between were removed" in err
