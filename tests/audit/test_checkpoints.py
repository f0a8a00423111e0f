"""Signed checkpoints: the hourly check starts where the last one ended, signs the head it
verified, and raises a break once, to the operators (docs/audit.md, "Checkpoints")."""

import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from audit.chain import chain_key_from_secret, verified_checkpoint_signature
from audit.checkpoints import audit_chains_checkpoint
from audit.events import AuditEventType
from audit.integrity import chains_to_verify, chains_verify
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import audit_event_record, audit_retention_apply
from outbox.models import OutboxMail
from tests.audit.test_verify import raw_sql
from tests.factories import OperatorFactory, TenantFactory

OLD_KEY = "old-audit-chain-key-for-tests-only-0123456789-abcdefghijklmnop"
NEW_KEY = "new-audit-chain-key-for-tests-only-9876543210-zyxwvutsrqponmlk"
ATTACKER_KEY = "a-key-someone-with-only-database-access-guessed-0123456789"


def record(tenant, count: int) -> list[AuditEvent]:
    return [
        audit_event_record(
            event=AuditEventType.ADMIN_ACTION, actor=None, tenant=tenant, details={"n": number}
        )
        for number in range(count)
    ]


def verify(*args) -> str:
    out = io.StringIO()
    call_command("verify_audit_log", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def verify_fails(*args) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_log", *args, stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def tamper(event: AuditEvent) -> None:
    raw_sql(
        "UPDATE audit_auditevent SET target_label = %s WHERE id = %s",
        ["someone-else@example.com", event.pk],
    )


def test_the_hourly_check_signs_a_checkpoint_and_the_default_run_starts_there(tenant):
    before = record(tenant, 4)
    audit_chains_checkpoint()
    checkpoint = AuditCheckpoint.objects.get(chain_key=tenant.pk)
    assert (checkpoint.sequence, checkpoint.hash, checkpoint.events) == (4, before[-1].hash, 4)
    after = record(tenant, 2)

    assert verify() == (
        "Audit log intact: 2 events in 1 chains "
        "(1 checked from their last checkpoint; --full checks everything).\n"
    )
    assert verify("--full") == "Audit log intact: 6 events in 1 chains.\n"

    # A second hourly run checks only the two new events and signs the new head.
    reports = audit_chains_checkpoint()
    assert [report.checked for report in reports] == [2]
    assert AuditCheckpoint.objects.filter(chain_key=tenant.pk).first().hash == after[-1].hash


def test_a_change_before_the_checkpoint_needs_full_and_one_after_it_is_found_by_default(tenant):
    before = record(tenant, 3)
    audit_chains_checkpoint()
    after = record(tenant, 3)

    tamper(before[1])
    assert "Audit log intact: 3 events" in verify()
    assert f"event #{before[1].pk} (sequence 2," in verify_fails("--full")

    tamper(after[1])
    assert f"event #{after[1].pk} (sequence 5," in verify_fails()


def record_at(moment: datetime, tenant, count: int) -> list[AuditEvent]:
    with time_machine.travel(moment, tick=False):
        return record(tenant, count)


def test_the_default_run_reads_events_timed_well_before_its_checkpoint(tenant):
    """It reads only the months from a day before the checkpoint on; an event committed after
    the check but timed days before it (a long transaction, a clock behind) is still checked,
    and one moved out of those months is still found."""
    record_at(datetime(2030, 3, 1, tzinfo=UTC), tenant, 2)
    with time_machine.travel(datetime(2030, 3, 10, tzinfo=UTC), tick=False):
        audit_chains_checkpoint()
    late = record_at(datetime(2030, 3, 5, tzinfo=UTC), tenant, 2)
    record_at(datetime(2030, 3, 11, tzinfo=UTC), tenant, 1)

    assert "Audit log intact: 3 events" in verify()

    raw_sql(
        "UPDATE audit_auditevent SET created_at = %s WHERE id = %s",
        [datetime(2030, 1, 2, tzinfo=UTC), late[1].pk],
    )
    assert f"event #{late[1].pk} (sequence 4," in verify_fails()


def test_a_forged_checkpoint_is_reported_like_a_broken_event(tenant):
    events = record(tenant, 3)
    audit_chains_checkpoint()
    # Someone with the database alone vouches for a rewritten head, past a changed event.
    tamper(events[2])
    forged = {
        "chain": tenant.pk,
        "sequence": 3,
        "hash": "e" * 64,
        "events": 3,
        "recorded_at": datetime(2026, 1, 1, tzinfo=UTC),
        "reason": "verified",
    }
    AuditCheckpoint.objects.create(
        chain_key=forged.pop("chain"),
        **forged,
        signature=verified_checkpoint_signature(
            key=chain_key_from_secret(ATTACKER_KEY), chain=tenant.pk, **forged
        ),
    )

    for run in ((), ("--full",)):
        err = verify_fails(*run)
        assert f"Broken: tenant {tenant.slug}: the checkpoint at sequence 3" in err
        assert "is not signed with this site's audit chain key" in err


def test_a_checkpoint_signed_before_a_key_rotation_still_verifies(tenant):
    with override_settings(AUDIT_CHAIN_KEY=OLD_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        record(tenant, 2)
        audit_chains_checkpoint()
    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[OLD_KEY]):
        record(tenant, 1)
        assert "Audit log intact: 1 events in 1 chains (1 checked" in verify()
    with override_settings(AUDIT_CHAIN_KEY=NEW_KEY, AUDIT_CHAIN_KEY_FALLBACKS=[]):
        assert "is not signed with this site's audit chain key" in verify_fails()


def test_a_break_raises_one_alert_and_mails_the_operators_once(tenant):
    operator = OperatorFactory()
    record(tenant, 3)
    audit_chains_checkpoint()
    record(tenant, 1)
    tamper(AuditEvent.objects.for_tenant(tenant).get(sequence=4))

    for _ in range(2):
        reports = audit_chains_checkpoint()

    # The platform chain (which holds the alert) first, intact; the tenant's broken.
    assert [report.intact for report in reports] == [True, False]
    alert = AuditEvent.objects.get(event=AuditEventType.AUDIT_CHAIN_BROKEN)
    assert alert.tenant is None
    assert alert.details["chain"] == f"tenant {tenant.slug}"
    assert "sequence 4" in alert.details["problem"]
    mail = OutboxMail.objects.get(kind="audit_chain_broken")
    assert mail.to == operator.email
    assert f"tenant {tenant.slug}" in mail.subject
    assert "verify_audit_log --full" in mail.body_text
    # No checkpoint vouches for the broken chain's head.
    assert AuditCheckpoint.objects.filter(chain_key=tenant.pk).count() == 1


def test_each_retention_cut_signs_a_checkpoint_at_the_head(tenant):
    tenant.audit_retention_months = 12
    tenant.save()
    for year in (2024, 2026):
        with time_machine.travel(datetime(year, 1, 1, tzinfo=UTC), tick=False):
            record(tenant, 2)

    with time_machine.travel(datetime(2026, 2, 1, tzinfo=UTC), tick=False):
        assert audit_retention_apply(tenant=tenant) == 2

    checkpoint = AuditCheckpoint.objects.get(chain_key=tenant.pk)
    assert (checkpoint.reason, checkpoint.sequence, checkpoint.events) == ("retention", 5, 3)
    assert "Audit log intact: 0 events in 1 chains (1 checked" in verify()
    assert "Audit log intact: 3 events" in verify("--full")


@pytest.mark.postgres
def test_small_chains_are_read_together_so_statements_dont_grow_with_tenants(db):
    """Planning a statement over every month's indexes costs more than reading a few events:
    the check reads small chains a batch at a time."""

    def statements_with(tenants: int) -> int:
        for _ in range(tenants):
            record(TenantFactory(), 2)
        chains = chains_to_verify()
        with CaptureQueriesContext(connection) as queries:
            reports = chains_verify(chains, full=False)
        assert all(report.intact for report in reports)
        return len(queries)

    assert statements_with(2) == statements_with(6)
