import importlib

import django.db.models.deletion
from django.db import migrations, models

chain_migration = importlib.import_module("audit.migrations.0002_chain_and_indexes")


def sqlite_trigger_remove(apps, schema_editor):
    """SQLite rebuilds a table to alter it, which a trigger naming that table doesn't survive."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER audit_event_advance_chain")


def sqlite_trigger_install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(chain_migration.SQLITE_TRIGGER)


class Migration(migrations.Migration):
    """`key` alone is unique: a second unique index on the tenant made one of two writers racing
    to create a chain fail on that index instead of waiting on `key`."""

    dependencies = [
        ("audit", "0004_recovery_and_review_event_types"),
        ("teams", "0003_session_limit_validators"),
    ]

    operations = [
        migrations.RunPython(sqlite_trigger_remove, sqlite_trigger_install),
        migrations.AlterField(
            model_name="auditchain",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="teams.tenant",
            ),
        ),
        migrations.RunPython(sqlite_trigger_install, sqlite_trigger_remove),
    ]
