"""The target's two indexes leave out events without a target, as the actor's and the address's
do (0015): the system's events, sign-in failures for unknown addresses and refusals are never
looked up by target, and each index is one more write on every event recorded.

On PostgreSQL the events table is partitioned (0020), and a partitioned table takes no
`CREATE INDEX CONCURRENTLY`. So each new index is made on the parent alone (invalid, and no
scan), then built concurrently on each partition and attached; once every partition's is
attached it is valid, and months made later get it with the parent's others. Writes go on
meanwhile, as the rolling-deploy rule asks (docs/deploy.md). The old indexes go last: dropping
a partitioned index scans nothing, but takes the table's lock for a moment. Elsewhere these are
plain index operations.
"""

from django.db import migrations, models

NEW_INDEXES = {
    "audit_tenant_by_target": "(tenant_id, target_id, created_at DESC, id DESC)",
    "audit_target_by_event": "(target_id, event, created_at DESC)",
}
CONDITION = "WHERE target_id IS NOT NULL"


class AddIndexOnEveryPartition(migrations.AddIndex):
    """`AddIndex`, built partition by partition without blocking writes on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        name = self.index.name
        columns = NEW_INDEXES[name]
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON ONLY audit_auditevent {columns} {CONDITION}"
            )
            # Partitions whose index isn't attached yet: all of them, unless a run was
            # interrupted or a month was made meanwhile (it then came with its own).
            cursor.execute(
                "SELECT child.relname FROM pg_inherits AS part "
                "JOIN pg_class AS child ON child.oid = part.inhrelid "
                "WHERE part.inhparent = 'audit_auditevent'::regclass AND NOT EXISTS ("
                "  SELECT 1 FROM pg_inherits AS idx JOIN pg_index ON pg_index.indexrelid = "
                "  idx.inhrelid WHERE idx.inhparent = %s::regclass "
                "  AND pg_index.indrelid = child.oid) ORDER BY child.relname",
                [name],
            )
            for (partition,) in cursor.fetchall():
                child = f"{partition}_{name.removeprefix('audit_')}"
                cursor.execute(f"DROP INDEX IF EXISTS {child}")  # an interrupted build's
                cursor.execute(
                    f"CREATE INDEX CONCURRENTLY {child} ON {partition} {columns} {CONDITION}"
                )
                cursor.execute(f"ALTER INDEX {name} ATTACH PARTITION {child}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0022_provisioning_event_types"),
    ]

    operations = [
        AddIndexOnEveryPartition(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("target__isnull", False)),
                fields=["tenant", "target", "-created_at", "-id"],
                name="audit_tenant_by_target",
            ),
        ),
        AddIndexOnEveryPartition(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("target__isnull", False)),
                fields=["target", "event", "-created_at"],
                name="audit_target_by_event",
            ),
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_tenant_target_time"),
        migrations.RemoveIndex(model_name="auditevent", name="audit_target_event_time"),
    ]
