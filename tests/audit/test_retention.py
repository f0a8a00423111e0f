import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import services
from audit.events import AuditEventType
from audit.models import AuditChain, AuditEvent
from audit.services import audit_event_record, audit_retention_apply, months_before
from audit.tasks import apply_audit_retention


def record_at(moment: datetime, tenant, **details) -> AuditEvent:
    with time_machine.travel(moment, tick=False):
        return audit_event_record(
            event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant, details=details
        )


@pytest.fixture
def old_and_new(tenant):
    old = [record_at(datetime(2025, month, 1, tzinfo=UTC), tenant, n=month) for month in (1, 2, 3)]
    new = [record_at(datetime(2026, month, 1, tzinfo=UTC), tenant, n=month) for month in (1, 2)]
    return old, new


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_retention_removes_old_events_and_verify_still_passes(tenant, other_tenant, old_and_new):
    old, new = old_and_new
    tenant.audit_retention_months = 12
    tenant.save()
    untouched = record_at(datetime(2020, 1, 1, tzinfo=UTC), other_tenant)

    with time_machine.travel(datetime(2026, 2, 15, tzinfo=UTC), tick=False):
        removed = audit_retention_apply(tenant=tenant)

    assert removed == 2
    remaining = list(AuditEvent.objects.for_tenant(tenant).order_by("sequence"))
    assert [event.pk for event in remaining[:3]] == [old[2].pk, new[0].pk, new[1].pk]
    applied = remaining[-1]
    assert applied.event == AuditEventType.AUDIT_RETENTION_APPLIED
    assert applied.details == {
        "removed": 2,
        "before": "2025-02-15T00:00:00+00:00",
        "months": 12,
        "checkpoint_sequence": 2,
    }
    chain = AuditChain.objects.get(key=tenant.pk)
    assert (chain.checkpoint_sequence, chain.checkpoint_hash) == (2, old[1].hash)
    assert AuditEvent.objects.filter(pk=untouched.pk).exists()
    assert "Audit log intact" in verify()


def test_retention_in_batches_leaves_a_verifiable_chain_each_time(tenant, monkeypatch):
    monkeypatch.setattr(services, "RETENTION_BATCH_SIZE", 2)
    for day in range(1, 8):
        record_at(datetime(2024, 1, day, tzinfo=UTC), tenant)
    tenant.audit_retention_months = 1
    tenant.save()

    removed = audit_retention_apply(tenant=tenant)

    assert removed == 7
    chain = AuditChain.objects.get(key=tenant.pk)
    assert chain.checkpoint_sequence == 7
    assert AuditEvent.objects.for_tenant(tenant).get().sequence == 8
    assert "Audit log intact" in verify()
    assert audit_retention_apply(tenant=tenant) == 0


def test_tenants_without_retention_keep_everything(tenant, old_and_new):
    apply_audit_retention.delay()

    assert AuditEvent.objects.for_tenant(tenant).count() == 5


def test_daily_task_applies_each_tenants_retention(tenant, old_and_new, settings):
    tenant.audit_retention_months = 6
    tenant.save()

    apply_audit_retention.delay()

    assert AuditEvent.objects.for_tenant(tenant).filter(sequence__lte=3).count() == 0
    assert "audit.tasks.apply_audit_retention" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_forged_checkpoint_fails_verification(tenant, old_and_new):
    tenant.audit_retention_months = 1
    tenant.save()
    audit_retention_apply(tenant=tenant)

    AuditChain.objects.filter(key=tenant.pk).update(checkpoint_sequence=1)

    with pytest.raises(CommandError):
        call_command("verify_audit_log", stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert "checkpoint at sequence 1 is not signed" in err.getvalue()


@pytest.mark.postgres
def test_after_retention_the_trigger_refuses_deletes_again(tenant, old_and_new):
    from django.db import DatabaseError, transaction

    tenant.audit_retention_months = 12
    tenant.save()
    with transaction.atomic():
        audit_retention_apply(tenant=tenant)
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditevent")


@pytest.mark.parametrize(
    "moment, months, expected",
    [
        (datetime(2026, 3, 31, 12, tzinfo=UTC), 1, datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 13, datetime(2024, 12, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 10**9, None),
    ],
)
def test_months_before(moment, months, expected):
    assert months_before(moment, months) == expected
