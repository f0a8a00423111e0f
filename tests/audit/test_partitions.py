"""Monthly partitions on PostgreSQL: made ahead, dropped once no chain needs them, and out of
the site role's reach (docs/audit.md, "Partitions")."""

import io
from datetime import UTC, datetime

import psycopg
import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import override_settings

from audit import partitions
from audit.checkpoints import audit_chains_checkpoint
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.partitions import audit_months_ensure, audit_months_remove, month_partitions
from audit.services import audit_event_record
from tests.audit.test_database_roles import as_site_role, refused, site_role  # noqa: F401
from tests.audit.test_verify import raw_sql

pytestmark = pytest.mark.postgres


def record_at(moment: datetime, tenant, count: int = 1) -> list[AuditEvent]:
    with time_machine.travel(moment, tick=False):
        return [
            audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant)
            for _ in range(count)
        ]


def partition_of(event: AuditEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [event.pk]
        )
        return cursor.fetchone()[0]


def verify(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_log", *args, stdout=out, stderr=err)
    except Exception:  # noqa: BLE001 - the command's CommandError: its text is what we test
        return err.getvalue()
    return out.getvalue()


def test_months_are_made_ahead_and_dropped_once_no_chain_needs_them(tenant, other_tenant):
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    assert {datetime(2030, month, 1, tzinfo=UTC) for month in (1, 2, 3, 4)} <= set(
        month_partitions()
    )
    old = record_at(datetime(2030, 1, 10, tzinfo=UTC), tenant, 2)
    record_at(datetime(2030, 1, 11, tzinfo=UTC), other_tenant)
    kept = record_at(datetime(2030, 3, 10, tzinfo=UTC), tenant)
    assert partition_of(old[0]) == "audit_auditevent_y2030m01"
    tenant.audit_retention_months = 1
    tenant.save()
    other_tenant.audit_retention_months = 2
    other_tenant.save()

    with override_settings(AUDIT_PLATFORM_RETENTION_MONTHS=None):
        # Platform events kept forever: nothing is dropped.
        assert audit_months_remove(now=datetime(2030, 4, 15, tzinfo=UTC)) == 0
    with override_settings(AUDIT_PLATFORM_RETENTION_MONTHS=2):
        # Every chain now keeps two months at most: January goes, March stays.
        assert audit_months_remove(now=datetime(2030, 4, 15, tzinfo=UTC)) == 3

    months = month_partitions()
    assert datetime(2030, 1, 1, tzinfo=UTC) not in months
    assert datetime(2030, 3, 1, tzinfo=UTC) in months
    assert AuditEvent.objects.filter(pk=kept[0].pk).exists()
    assert not AuditEvent.objects.filter(pk=old[0].pk).exists()
    removed = AuditEvent.objects.get(event=AuditEventType.AUDIT_MONTHS_REMOVED)
    assert removed.details == {"month": "2030-01", "removed": 3, "chains_cut": 2}
    assert "Audit log intact" in verify("--full")


def test_a_month_being_read_is_dropped_on_a_later_run_without_holding_up_writes(
    months_emptied_after, tenant, monkeypatch
):
    """An export streaming January holds it; the drop gives up after its short wait (writes
    queue behind a waiting drop), and a later run drops it."""
    monkeypatch.setattr(partitions, "MONTH_DROP_LOCK_WAIT", "200ms")
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    record_at(datetime(2030, 1, 10, tzinfo=UTC), tenant, 2)
    tenant.audit_retention_months = 1
    tenant.save()
    with (
        override_settings(AUDIT_PLATFORM_RETENTION_MONTHS=1),
        psycopg.connect(**connection.get_connection_params()) as reader,
    ):
        reader.execute("SELECT count(*) FROM audit_auditevent_y2030m01").fetchone()
        assert audit_months_remove(now=datetime(2030, 4, 15, tzinfo=UTC)) == 0
        assert datetime(2030, 1, 1, tzinfo=UTC) in month_partitions()
        assert not AuditEvent.objects.filter(event=AuditEventType.AUDIT_MONTHS_REMOVED).exists()

        reader.rollback()
        assert audit_months_remove(now=datetime(2030, 4, 15, tzinfo=UTC)) == 2
    assert datetime(2030, 1, 1, tzinfo=UTC) not in month_partitions()
    assert "Audit log intact" in verify("--full")


def test_a_month_no_retention_cut_has_passed_is_refused(tenant):
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    record_at(datetime(2030, 1, 10, tzinfo=UTC), tenant)

    refusal = "past their chain's retention checkpoint"
    with pytest.raises(DatabaseError, match=refusal), connection.cursor() as cursor:
        cursor.execute("SELECT audit_month_drop('2030-01-01')")


def test_a_change_in_an_old_month_needs_full_and_one_after_the_checkpoint_is_found(tenant):
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    january = record_at(datetime(2030, 1, 10, tzinfo=UTC), tenant, 2)
    with time_machine.travel(datetime(2030, 2, 1, tzinfo=UTC), tick=False):
        audit_chains_checkpoint()
    february = record_at(datetime(2030, 2, 10, tzinfo=UTC), tenant, 2)
    assert partition_of(january[0]) == "audit_auditevent_y2030m01"

    raw_sql("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [january[0].pk])
    assert "Audit log intact: 2 events" in verify()
    assert f"event #{january[0].pk} (sequence 1," in verify("--full")

    raw_sql("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [february[1].pk])
    assert f"event #{february[1].pk} (sequence 4," in verify()


def test_the_site_role_cannot_detach_drop_or_change_a_month(site_role, tenant):  # noqa: F811
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    event = record_at(datetime(2030, 1, 10, tzinfo=UTC), tenant)[0]
    assert "must be owner" in refused(
        "ALTER TABLE audit_auditevent DETACH PARTITION audit_auditevent_y2030m01"
    )
    assert "must be owner" in refused("DROP TABLE audit_auditevent_y2030m01")
    assert "permission denied" in refused("UPDATE audit_auditevent_y2030m01 SET actor_label = 'x'")
    assert "permission denied" in refused("DELETE FROM audit_auditevent_y2030m01")
    assert "permission denied" in refused("TRUNCATE audit_auditevent_y2030m01")
    assert "past their chain's retention checkpoint" in refused(
        "SELECT audit_month_drop('2030-01-01')"
    )
    # Months it makes through the function are as out of reach as those the release made.
    with as_site_role() as cursor:
        cursor.execute("SELECT audit_month_create('2031-06-01')")
    assert "permission denied" in refused("DELETE FROM audit_auditevent_y2031m06")
    assert AuditEvent.objects.filter(pk=event.pk).exists()
