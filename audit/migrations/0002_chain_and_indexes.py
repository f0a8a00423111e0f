import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from audit.chain import GENESIS_HASH, chain_key, legacy_event_hash

POSTGRES_TRIGGERS = """
CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The retention task alone may delete, after setting this for its own transaction.
    IF TG_OP = 'DELETE' AND current_setting('portcullis.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();

CREATE FUNCTION audit_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_auditchain AS chain
       SET length = newest.sequence, head_hash = newest.hash
      FROM (
          SELECT DISTINCT ON (COALESCE(tenant_id, 0))
                 COALESCE(tenant_id, 0) AS key, sequence, hash
            FROM inserted
           ORDER BY COALESCE(tenant_id, 0), sequence DESC
      ) AS newest
     WHERE chain.key = newest.key AND chain.length < newest.sequence;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_event_advance_chain
    AFTER INSERT ON audit_auditevent
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_advance();
"""

POSTGRES_TRIGGERS_DROP = """
DROP TRIGGER audit_event_advance_chain ON audit_auditevent;
DROP FUNCTION audit_chain_advance();
DROP TRIGGER audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER audit_event_append_only ON audit_auditevent;
DROP FUNCTION audit_event_refuse_change();
"""

# SQLite has no session settings for a retention escape hatch, so append-only is the ORM's
# job there; the chain head still moves in the database, as on PostgreSQL.
SQLITE_TRIGGER = """
CREATE TRIGGER audit_event_advance_chain AFTER INSERT ON audit_auditevent
BEGIN
    UPDATE audit_auditchain SET length = NEW.sequence, head_hash = NEW.hash
     WHERE key = COALESCE(NEW.tenant_id, 0) AND length < NEW.sequence;
END
"""


def triggers_install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_TRIGGERS, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def triggers_remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_TRIGGERS_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER audit_event_advance_chain")


def existing_events_chain(apps, schema_editor):
    """Link the events recorded before chains existed, oldest first, into their chains."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChain = apps.get_model("audit", "AuditChain")
    tenant_ids = AuditEvent.objects.values_list("tenant_id", flat=True).distinct()
    for tenant_id in sorted(set(tenant_ids), key=chain_key):
        previous_hash, sequence = GENESIS_HASH, 0
        for event in AuditEvent.objects.filter(tenant_id=tenant_id).order_by("id").iterator():
            sequence += 1
            previous_hash = legacy_event_hash(
                previous_hash=previous_hash,
                tenant_id=event.tenant_id,
                sequence=sequence,
                event=event.event,
                created_at=event.created_at,
                actor_id=event.actor_id,
                actor_label=event.actor_label,
                target_id=event.target_id,
                target_label=event.target_label,
                ip=event.ip,
                user_agent=event.user_agent,
                details=event.details,
            )
            AuditEvent.objects.filter(pk=event.pk).update(sequence=sequence, hash=previous_hash)
        AuditChain.objects.create(
            key=chain_key(tenant_id), tenant_id=tenant_id, length=sequence, head_hash=previous_hash
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("teams", "0002_tenant_policies_and_sessions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChain",
            fields=[
                ("key", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
                ("length", models.PositiveBigIntegerField(default=0)),
                ("head_hash", models.CharField(max_length=64)),
                ("checkpoint_sequence", models.PositiveBigIntegerField(default=0)),
                ("checkpoint_hash", models.CharField(blank=True, max_length=64)),
                ("checkpoint_signature", models.CharField(blank=True, max_length=200)),
                ("checkpoint_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tenant",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="teams.tenant",
                    ),
                ),
            ],
            options={"ordering": ["key"]},
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_tenant_time"),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.PositiveBigIntegerField(editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
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
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="event",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (100, "Sign-in succeeded"),
                    (101, "Sign-in failed"),
                    (102, "Account locked"),
                    (103, "Account unlocked"),
                    (104, "Signed out"),
                    (105, "Unusual sign-in"),
                    (106, "Burst of failed sign-ins"),
                    (107, "Sign-in reported as not me"),
                    (200, "MFA factor enrolled"),
                    (201, "MFA factor removed"),
                    (202, "Second step passed"),
                    (203, "Second step failed"),
                    (204, "Backup code used"),
                    (205, "Backup codes regenerated"),
                    (206, "MFA factors reset"),
                    (300, "Password reset requested"),
                    (301, "Password reset completed"),
                    (302, "Password changed"),
                    (400, "Session started"),
                    (401, "Session expired"),
                    (402, "Session revoked"),
                    (500, "Person invited"),
                    (501, "Person deactivated"),
                    (502, "Person reactivated"),
                    (503, "Person's role changed"),
                    (600, "Role created"),
                    (601, "Role edited"),
                    (602, "Tenant created"),
                    (603, "Tenant policy changed"),
                    (700, "Admin action"),
                    (800, "Audit trail exported"),
                    (801, "Old audit events removed"),
                ]
            ),
        ),
        migrations.RunPython(existing_events_chain, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="sequence",
            field=models.PositiveBigIntegerField(editable=False),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["tenant", "-created_at", "-id"], name="audit_tenant_time"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["tenant", "actor", "-created_at", "-id"], name="audit_tenant_actor_time"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["tenant", "target", "-created_at", "-id"], name="audit_tenant_target_time"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["tenant", "event", "-created_at"], name="audit_tenant_event_time"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["tenant", "ip", "-created_at"], name="audit_tenant_ip_time"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["-created_at", "-id"], name="audit_time"),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("tenant__isnull", False)),
                fields=("tenant", "sequence"),
                name="audit_tenant_chain_sequence",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("tenant__isnull", True)),
                fields=("sequence",),
                name="audit_platform_chain_sequence",
            ),
        ),
        migrations.RunPython(triggers_install, triggers_remove),
    ]
