"""The chain becomes an HMAC under `AUDIT_CHAIN_KEY`; retention deletes through a function.

Existing chains were plain SHA-256 (version 1). Each is checked first, link by link, under the
old rule, and the migration stops, naming the event, if one doesn't match: re-hashing must not
launder a change made before it. Then every event is hashed again, in order, under the current
key, the chain's head follows, and a retention checkpoint (signed with the SECRET_KEY before) is
signed with the key. From here on the log verifies only with the key.

On PostgreSQL, `audit_events_remove` is the one way to delete events: it belongs to the role that
migrates (the table's owner) and runs with that role's rights (SECURITY DEFINER), so the role
the site runs as needs no DELETE on the table (docs/audit.md, "Database roles").
"""

import importlib

from django.core import signing
from django.db import migrations, models

from audit.chain import (
    GENESIS_HASH,
    checkpoint_signature,
    current_chain_key,
    event_hash,
    legacy_event_hash,
)

chain_migration = importlib.import_module("audit.migrations.0002_chain_and_indexes")

LEGACY_CHECKPOINT_SALT = "audit.checkpoint"
RESEAL_BATCH_SIZE = 10_000
EVENT_FIELDS = (
    "tenant_id",
    "event",
    "created_at",
    "actor_id",
    "actor_label",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "details",
)

RETENTION_FUNCTION = """
CREATE FUNCTION audit_events_remove(chain_tenant_id bigint, up_to_sequence bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM set_config('portcullis.audit_retention', 'on', true);
    DELETE FROM audit_auditevent
     WHERE tenant_id = chain_tenant_id AND sequence <= up_to_sequence;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('portcullis.audit_retention', 'off', true);
    RETURN removed;
END
$$;
REVOKE ALL ON FUNCTION audit_events_remove(bigint, bigint) FROM PUBLIC;
"""

RETENTION_FUNCTION_DROP = "DROP FUNCTION audit_events_remove(bigint, bigint);"


class BrokenChainError(RuntimeError):
    """An existing chain doesn't verify under the old rule: it is not re-hashed."""


def sqlite_trigger_remove(apps, schema_editor):
    """SQLite rebuilds the table to add a column, which a trigger naming it doesn't survive."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER audit_event_advance_chain")


def sqlite_trigger_install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(chain_migration.SQLITE_TRIGGER)


def _hashes_store(connection, updates: list[tuple[str, str, int]]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE audit_auditevent AS e SET hash = v.hash, hash_key_id = v.key_id "
                "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS v(hash, key_id, id) "
                "WHERE e.id = v.id",
                [[row[0] for row in updates], [row[1] for row in updates], [row[2] for row in updates]],
            )
        else:
            cursor.executemany(
                "UPDATE audit_auditevent SET hash = %s, hash_key_id = %s WHERE id = %s", updates
            )


def chains_reseal(apps, schema_editor):
    """Check every chain under SHA-256, then hash it again under the current key."""
    connection = schema_editor.connection
    alias = connection.alias
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChain = apps.get_model("audit", "AuditChain")
    key = current_chain_key()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    for chain in AuditChain.objects.using(alias).order_by("key"):
        tenant_id = chain.key or None
        old_previous = new_previous = GENESIS_HASH
        if chain.checkpoint_sequence:
            expected = f"{chain.key}:{chain.checkpoint_sequence}:{chain.checkpoint_hash}"
            try:
                signed = signing.Signer(salt=LEGACY_CHECKPOINT_SALT).unsign(
                    chain.checkpoint_signature
                )
            except signing.BadSignature:
                signed = None
            if signed != expected:
                raise BrokenChainError(
                    f"Audit chain {chain.key}: its retention checkpoint is not signed with this "
                    "site's SECRET_KEY. Run verify_audit_log on the previous release first."
                )
            old_previous = new_previous = chain.checkpoint_hash
        sequence = chain.checkpoint_sequence
        updates: list[tuple[str, str, int]] = []
        rows = (
            AuditEvent.objects.using(alias)
            .filter(tenant_id=tenant_id)
            .order_by("sequence")
            .values_list("pk", "sequence", "hash", *EVENT_FIELDS)
            .iterator(chunk_size=RESEAL_BATCH_SIZE)
        )
        for pk, event_sequence, stored, *values in rows:
            sequence += 1
            fields = dict(zip(EVENT_FIELDS, values, strict=True), sequence=event_sequence)
            if event_sequence != sequence or stored != legacy_event_hash(
                previous_hash=old_previous, **fields
            ):
                raise BrokenChainError(
                    f"Audit event #{pk} (chain {chain.key}, sequence {event_sequence}) does not "
                    "match its SHA-256 link: the log was changed before this migration. Run "
                    "verify_audit_log on the previous release and investigate first."
                )
            old_previous = stored
            new_previous = event_hash(key=key, previous_hash=new_previous, **fields)
            updates.append((new_previous, key.id, pk))
            if len(updates) == RESEAL_BATCH_SIZE:
                _hashes_store(connection, updates)
                updates = []
        if updates:
            _hashes_store(connection, updates)
        if sequence != chain.length or old_previous != chain.head_hash:
            raise BrokenChainError(
                f"Audit chain {chain.key} ends at sequence {sequence} but its head says "
                f"{chain.length}: events were removed from its end before this migration."
            )
        chain.head_hash = new_previous
        if chain.checkpoint_sequence:
            chain.checkpoint_signature = checkpoint_signature(
                key=key,
                chain=chain.key,
                sequence=chain.checkpoint_sequence,
                hash=chain.checkpoint_hash,
            )
        chain.save(using=alias, update_fields=["head_hash", "checkpoint_signature"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def retention_function_install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RETENTION_FUNCTION, params=None)


def retention_function_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RETENTION_FUNCTION_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0011_single_sign_on_event_types"),
    ]

    operations = [
        migrations.RunPython(sqlite_trigger_remove, sqlite_trigger_install),
        migrations.AddField(
            model_name="auditevent",
            name="hash_key_id",
            field=models.CharField(default="", editable=False, max_length=16),
            preserve_default=False,
        ),
        migrations.RunPython(sqlite_trigger_install, sqlite_trigger_remove),
        # No way back: the old hashes are gone, and an unkeyed chain is what this replaces.
        migrations.RunPython(chains_reseal, migrations.RunPython.noop),
        migrations.RunPython(retention_function_install, retention_function_remove),
    ]
