import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.events import AuditEventType
from audit.models import AuditChain, AuditEvent
from audit.services import audit_event_record


@pytest.fixture
def events(tenant, other_tenant, technician):
    recorded = [
        audit_event_record(
            event=AuditEventType.SIGN_IN_FAILED,
            actor=None,
            tenant=tenant,
            target=technician,
            details={"email": technician.email, "attempt": number},
        )
        for number in range(5)
    ]
    audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=None, tenant=other_tenant)
    audit_event_record(event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=None)
    return recorded


def raw_sql(sql: str, params=()) -> None:
    """Tamper the way someone with database access would: around the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks would block ALTER TABLE: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def verify(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit_log", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def verify_fails(*args) -> tuple[CommandError, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log", *args, stdout=io.StringIO(), stderr=err)
    return failure.value, err.getvalue()


def test_intact_log_verifies_with_no_progress_bar_off_a_terminal(events):
    out, err = verify()

    assert out == "Audit log intact: 7 events in 3 chains.\n"
    assert err == ""


def test_verify_one_tenant(events, other_tenant):
    out, _ = verify("--tenant", other_tenant.slug)

    assert out == "Audit log intact: 1 events in 1 chains.\n"


def test_edited_row_is_named_by_verify(events, tenant):
    edited = events[2]
    raw_sql(
        "UPDATE audit_auditevent SET details = %s WHERE id = %s",
        ['{"email": "someone-else@example.com", "attempt": 2}', edited.pk],
    )

    error, err = verify_fails()

    assert error.returncode == 1
    assert f"Broken: tenant {tenant.slug}: event #{edited.pk} (sequence 3," in err
    assert "does not match its hash" in err
    assert "platform events" not in err


def test_edited_row_with_recomputed_hash_breaks_the_next_link(events, tenant):
    raw_sql("UPDATE audit_auditevent SET hash = %s WHERE id = %s", ["f" * 64, events[1].pk])

    _, err = verify_fails("--tenant", tenant.slug)

    assert f"event #{events[1].pk} (sequence 2," in err


def test_removed_row_in_the_middle_is_found(events):
    raw_sql("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])

    _, err = verify_fails()

    assert f"event #{events[2].pk} (sequence 3," in err
    assert "the events between were removed" in err


def test_removed_rows_at_the_end_are_found(events):
    raw_sql("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[3].pk, events[4].pk])

    _, err = verify_fails()

    assert "the chain ends at sequence 3 but its head says 5" in err


def test_lost_chain_head_is_found(events, tenant):
    AuditChain.objects.filter(key=tenant.pk).delete()

    _, err = verify_fails()

    assert f"tenant {tenant.slug}" in err


def test_unknown_tenant_is_a_usage_error(events):
    error, _ = verify_fails("--tenant", "no-such-msp")

    assert error.returncode == 2
    assert "No tenant has the slug 'no-such-msp'" in str(error)


def test_bad_arguments_exit_with_status_2():
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit_log", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_progress_bar_is_drawn_on_a_terminal(events, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    verify()

    assert "100% 5/5" in terminal.getvalue()
    assert "[##############################]" in terminal.getvalue()


def test_every_chain_intact_after_many_events(tenant, technician):
    for _ in range(30):
        audit_event_record(
            event=AuditEventType.SIGNED_OUT, actor=technician, tenant=tenant, target=technician
        )

    out, _ = verify()

    assert "30 events" in out
    assert AuditEvent.objects.for_tenant(tenant).count() == 30
