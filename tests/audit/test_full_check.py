"""`verify_audit_log --full` over many chains reads the log once, as its rows lie, and joins each
chain's runs (audit/chain_runs.py): it spells every kind of value as the recording did, and finds
a change, a removal or an added event wherever it falls, across months and processes."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import RequestFactory

from audit import integrity
from audit.chain_runs import runs_read
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.partitions import audit_months_ensure
from audit.services import audit_event_record
from tests.audit.test_partitions import partition_of
from tests.audit.test_verify import raw_sql, verify, verify_fails


def request_from(address: str, agent: str):
    return RequestFactory().get("/", REMOTE_ADDR=address, HTTP_USER_AGENT=agent)


def record_varied(tenant, other_tenant, technician) -> list[AuditEvent]:
    """Events holding every kind of value a content spells: no address, IPv4 and IPv6,
    non-ASCII and quoted text, nested details with numbers, times with and without a fraction."""
    technician.email = 'zoë."quote"@northwind.example'
    technician.save()
    made = []
    moments = [
        datetime(2030, 1, 10, 9, 0, 0, tzinfo=UTC),
        datetime(2030, 1, 10, 9, 0, 0, 500000, tzinfo=UTC),
        datetime(2030, 1, 10, 9, 0, 0, 123456, tzinfo=UTC),
    ]
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            made.append(
                audit_event_record(
                    event=AuditEventType.SIGN_IN_FAILED,
                    actor=technician,
                    tenant=tenant,
                    target=technician,
                    request=request_from("2001:db8::1", "Navegador “ñ” \\ 1.0"),
                    details={"email": technician.email, "n": 1.5, "list": [1, None, True]},
                )
            )
            made.append(
                audit_event_record(
                    event=AuditEventType.ADMIN_ACTION,
                    actor=None,
                    tenant=other_tenant,
                    request=request_from("203.0.113.9", "Mozilla/5.0"),
                )
            )
            made.append(
                audit_event_record(event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=None)
            )
    return made


def test_every_kind_of_value_is_spelled_as_recorded(tenant, other_tenant, technician):
    record_varied(tenant, other_tenant, technician)

    out, _ = verify("--full")

    assert "Audit log intact: 9 events in 3 chains." in out


def test_a_changed_event_is_named_by_the_full_check(tenant, other_tenant, technician):
    made = record_varied(tenant, other_tenant, technician)
    changed = made[3]

    raw_sql("UPDATE audit_auditevent SET target_label = 'x' WHERE id = %s", [changed.pk])
    _, err = verify_fails("--full")

    assert f"tenant {tenant.slug}: event #{changed.pk} (sequence 2," in err
    assert "does not match its hash" in err
    assert other_tenant.slug not in err


def test_removed_events_are_found_by_the_full_check(tenant, other_tenant, technician):
    made = record_varied(tenant, other_tenant, technician)

    raw_sql("DELETE FROM audit_auditevent WHERE id = %s", [made[1].pk])
    _, err = verify_fails("--full")

    assert f"event #{made[4].pk} (sequence 2," in err
    assert "follows sequence 0: the events between were removed" in err


@pytest.mark.postgres
def test_an_added_copy_of_an_event_is_found_by_the_full_check(tenant, other_tenant, technician):
    """A partitioned table can't hold a chain's sequences unique across months (SQLite's one
    table does), so a copy a second later is stored, and the full check must find it."""
    made = record_varied(tenant, other_tenant, technician)
    columns = (
        "tenant_id, event, actor_id, actor_label, target_id, target_label, ip, user_agent, "
        "details, sequence, hash, hash_key_id"
    )

    raw_sql(
        f"INSERT INTO audit_auditevent ({columns}, created_at) "  # noqa: S608 - the test's own
        f"SELECT {columns}, created_at + interval '1 second' FROM audit_auditevent WHERE id = %s",
        [made[0].pk],
    )
    _, err = verify_fails("--full")

    assert f"tenant {tenant.slug}: event #" in err
    assert "(sequence 1," in err
    assert "repeats sequence 1: an event was added to the chain" in err


def record_months(tenant, other_tenant) -> dict[str, list[AuditEvent]]:
    audit_months_ensure(now=datetime(2030, 1, 15, tzinfo=UTC))
    months: dict[str, list[AuditEvent]] = {}
    for month in (1, 2, 3):
        for day in (5, 20):
            with time_machine.travel(datetime(2030, month, day, tzinfo=UTC), tick=False):
                for each in (tenant, other_tenant):
                    made = audit_event_record(
                        event=AuditEventType.ADMIN_ACTION, actor=None, tenant=each
                    )
                    months.setdefault(f"{each.slug}-{month}", []).append(made)
    return months


@pytest.mark.postgres
@pytest.mark.parametrize("processes", ["one", "per core"])
def test_chains_across_months_are_joined_and_breaks_at_a_month_start_found(
    months_emptied_after, tenant, other_tenant, monkeypatch, processes
):
    if processes == "per core":
        monkeypatch.setattr(integrity, "PARALLEL_MIN_EVENTS", 1)
    months = record_months(tenant, other_tenant)
    february_first = months[f"{tenant.slug}-2"][0]
    assert partition_of(february_first) == "audit_auditevent_y2030m02"

    assert "Audit log intact: 12 events in 2 chains." in verify("--full")[0]

    raw_sql("UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [february_first.pk])
    _, err = verify_fails("--full")
    assert f"tenant {tenant.slug}: event #{february_first.pk} (sequence 3," in err
    assert other_tenant.slug not in err


@pytest.mark.postgres
def test_a_month_boundary_with_events_removed_is_a_gap(
    months_emptied_after, tenant, other_tenant, monkeypatch
):
    monkeypatch.setattr(integrity, "PARALLEL_MIN_EVENTS", 1)
    months = record_months(tenant, other_tenant)
    january_last, february_first = months[f"{tenant.slug}-1"][1], months[f"{tenant.slug}-2"][0]

    raw_sql(
        "DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [january_last.pk, february_first.pk]
    )
    _, err = verify_fails("--full")

    february_second = months[f"{tenant.slug}-2"][1]
    assert f"event #{february_second.pk} (sequence 4," in err
    assert "follows sequence 1: the events between were removed" in err


@pytest.mark.postgres
def test_a_month_dropped_while_the_check_runs_is_passed_over(tenant):
    """Retention drops only months no chain needs; one gone between listing the months and
    reading it held nothing the check wanted."""
    assert runs_read("audit_auditevent_y1999m01", {tenant.pk: 1}) == []
