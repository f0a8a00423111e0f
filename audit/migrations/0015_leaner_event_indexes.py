"""Fewer index entries per audit event.

The tenant's and the target's single-column indexes go: indexes starting with the same column
serve their lookups. The actor's and the address's indexes leave out events without one (the
system's, bulk jobs'), which are never looked up by them. On PostgreSQL the new indexes are
built before the old ones go and without blocking writes, as the rolling-deploy rule asks of a
big table (docs/deploy.md); elsewhere they are plain index operations.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

# SQLite rebuilds a table to alter a column, and the table's trigger doesn't survive that.
sqlite_trigger = importlib.import_module("audit.migrations.0005_chain_tenant_not_unique")


class PostgresConcurrently:
    """Run the concurrent form on PostgreSQL and the plain one on other databases."""

    plain: type[migrations.operations.base.Operation]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexWithoutBlocking(PostgresConcurrently, AddIndexConcurrently):
    plain = migrations.AddIndex


class RemoveIndexWithoutBlocking(PostgresConcurrently, RemoveIndexConcurrently):
    plain = migrations.RemoveIndex


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0014_findings_event_types"),
        ("teams", "0008_mfa_by_default_and_session_bounds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexWithoutBlocking(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["tenant", "actor", "-created_at", "-id"],
                name="audit_tenant_by_actor",
            ),
        ),
        AddIndexWithoutBlocking(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("ip__isnull", False)),
                fields=["tenant", "ip", "-created_at"],
                name="audit_tenant_by_ip",
            ),
        ),
        AddIndexWithoutBlocking(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)), fields=["actor"], name="audit_actor"
            ),
        ),
        RemoveIndexWithoutBlocking(model_name="auditevent", name="audit_tenant_actor_time"),
        RemoveIndexWithoutBlocking(model_name="auditevent", name="audit_tenant_ip_time"),
        migrations.RunPython(
            sqlite_trigger.sqlite_trigger_remove, sqlite_trigger.sqlite_trigger_install
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="target",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="teams.tenant",
            ),
        ),
        migrations.RunPython(
            sqlite_trigger.sqlite_trigger_install, sqlite_trigger.sqlite_trigger_remove
        ),
    ]
