"""Migration audit.0012: SHA-256 chains are checked, then re-hashed under the chain key."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.chain import GENESIS_HASH, current_chain_key, legacy_event_hash
from audit.models import AuditChain, AuditEvent
from tests.audit.helpers import NO_TRUNCATE_TRIGGERS_OFF

BEFORE = ("audit", "0011_single_sign_on_event_types")
KEYED = ("audit", "0012_keyed_chain_and_retention_function")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def migrate_to(target) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_keyed_chain(transactional_db):
    migrate_to(BEFORE)
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("DELETE FROM audit_auditevent")
        cursor.execute("DELETE FROM audit_auditchain")
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    migrate_to(None)
    if connection.vendor == "postgresql":
        # The partitioned table the last migration made back has its triggers on again.
        with connection.cursor() as cursor:
            cursor.execute(NO_TRUNCATE_TRIGGERS_OFF)


def legacy_chain(tenant, count: int) -> list[str]:
    """Events as the SHA-256 chain recorded them before 0012; returns their hashes."""
    hashes, previous = [], GENESIS_HASH
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditchain (key, tenant_id, length, head_hash, "
            "checkpoint_sequence, checkpoint_hash, checkpoint_signature) "
            "VALUES (%s, %s, 0, %s, 0, '', '')",
            [tenant.pk, tenant.pk, GENESIS_HASH],
        )
        for sequence in range(1, count + 1):
            fields = {
                "tenant_id": tenant.pk,
                "sequence": sequence,
                "event": 700,
                "created_at": START + timedelta(minutes=sequence),
                "actor_id": None,
                "actor_label": "",
                "target_id": None,
                "target_label": "",
                "ip": "192.0.2.7",
                "user_agent": "Firefox",
                "details": {"n": sequence},
            }
            previous = legacy_event_hash(previous_hash=previous, **fields)
            hashes.append(previous)
            cursor.execute(
                "INSERT INTO audit_auditevent (tenant_id, sequence, event, created_at, actor_id, "
                "actor_label, target_id, target_label, ip, user_agent, details, hash) "
                "VALUES (%s, %s, 700, %s, NULL, '', NULL, '', '192.0.2.7', 'Firefox', %s, %s)",
                [
                    tenant.pk,
                    sequence,
                    connection.ops.adapt_datetimefield_value(fields["created_at"]),
                    f'{{"n": {sequence}}}',
                    previous,
                ],
            )
    return hashes


def test_sha256_chains_are_rehashed_under_the_key_and_then_verify(before_keyed_chain, tenant):
    old_hashes = legacy_chain(tenant, 4)

    migrate_to(KEYED)

    events = list(AuditEvent.objects.for_tenant(tenant).order_by("sequence"))
    assert [event.sequence for event in events] == [1, 2, 3, 4]
    assert {event.hash_key_id for event in events} == {current_chain_key().id}
    assert not {event.hash for event in events} & set(old_hashes)
    assert AuditChain.objects.get(key=tenant.pk).head_hash == events[-1].hash
    # Today's verify_audit_log reads tables later migrations add (checkpoints, partitions).
    migrate_to(None)
    out = io.StringIO()
    call_command("verify_audit_log", "--full", stdout=out)
    assert out.getvalue() == "Audit log intact: 4 events in 1 chains.\n"


def test_a_chain_changed_before_the_migration_stops_it(before_keyed_chain, tenant):
    legacy_chain(tenant, 3)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET details = %s WHERE sequence = 2", ['{"n": 20}'])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")

    with pytest.raises(RuntimeError, match=r"sequence 2\) does not match its SHA-256 link"):
        migrate_to(KEYED)
