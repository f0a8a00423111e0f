import csv
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from teams import scopes
from tests.audit.helpers import CHROME_WINDOWS, FIREFOX_LINUX, FROM_THE_OFFICE
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import fail_sign_in, sign_in

TRAIL = "/audit/"
EXPORT = "/audit/export.csv"


@pytest.fixture
def owner_client(owner):
    return sign_in(Client(), owner, **FROM_THE_OFFICE)


@pytest.fixture
def history(tenant, other_tenant, owner, technician):
    """A few days of events in two tenants."""
    with time_machine.travel(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        fail_sign_in(
            Client(), technician.email, REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT=CHROME_WINDOWS
        )
    with time_machine.travel(datetime(2026, 3, 3, 9, 0, tzinfo=UTC), tick=False):
        audit_event_record(
            event=AuditEventType.PERSON_DEACTIVATED, actor=owner, tenant=tenant, target=technician
        )
    stranger = UserFactory(tenant=other_tenant, email="stranger@contoso.example")
    with time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False):
        sign_in(Client(), stranger, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    return stranger


def rows_of(response) -> str:
    return response.content.decode()


def test_trail_needs_audit_read(client_signed_in, history):
    assert client_signed_in.get(TRAIL).status_code == 403
    assert client_signed_in.get(EXPORT).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    for path in (TRAIL, EXPORT, "/audit/logins/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


def test_trail_shows_only_the_tenants_own_events(owner_client, history, technician):
    response = owner_client.get(TRAIL)

    page = rows_of(response)
    assert response.status_code == 200
    assert "tech@northwind.example" in page
    assert "Person deactivated" in page
    assert "stranger@contoso.example" not in page


def test_read_only_role_reads_but_cannot_export(tenant, history):
    reader = UserFactory(tenant=tenant, builtin=scopes.READ_ONLY)
    client = sign_in(Client(), reader, **FROM_THE_OFFICE)

    assert client.get(TRAIL).status_code == 200
    assert client.get(EXPORT).status_code == 403
    assert "Download as CSV" not in rows_of(client.get(TRAIL))


def test_filter_by_event_type(owner_client, history):
    response = owner_client.get(TRAIL, {"event": AuditEventType.SIGN_IN_FAILED})

    page = rows_of(response)
    assert "Sign-in failed" in page
    assert "Person deactivated</td>" not in page
    assert "1 event," in page


def test_event_filter_keeps_its_choice_among_every_event_type(owner_client, history):
    page = rows_of(owner_client.get(TRAIL, {"event": AuditEventType.SIGN_IN_FAILED}))

    failed = AuditEventType.SIGN_IN_FAILED.value
    assert f'<option value="{failed}" selected>Sign-in failed</option>' in page
    assert '<option value="">All events</option>' in page
    assert page.count("<option value=") >= len(AuditEventType.choices) + 1


def test_an_events_type_in_words_is_its_label_or_its_number_when_unknown():
    assert AuditEvent(event=AuditEventType.SIGN_IN_FAILED).get_event_display() == "Sign-in failed"
    assert AuditEvent(event=65535).get_event_display() == "65535"


def test_filter_by_person_matches_actor_or_target(owner_client, history, owner, technician):
    by_owner = rows_of(owner_client.get(TRAIL, {"person": owner.pk}))
    about_technician = rows_of(owner_client.get(TRAIL, {"person": technician.pk}))

    assert "Person deactivated</td>" in by_owner
    assert "Sign-in failed</span>" not in by_owner
    assert "Person deactivated</td>" in about_technician
    assert "Sign-in failed</span>" in about_technician


def test_filter_by_ip_and_dates(owner_client, history):
    by_ip = rows_of(owner_client.get(TRAIL, {"ip": "198.51.100.5"}))
    one_day = rows_of(owner_client.get(TRAIL, {"since": "2026-03-02", "until": "2026-03-02"}))

    assert "Sign-in failed</span>" in by_ip
    assert "Sign-in succeeded</span>" not in by_ip
    assert "Sign-in failed</span>" in one_day
    assert "Sign-in succeeded</span>" not in one_day
    assert "Person deactivated</td>" not in one_day


def test_filters_stay_in_the_page_links(owner_client, tenant, technician):
    for _ in range(55):
        audit_event_record(
            event=AuditEventType.SIGNED_OUT, actor=technician, tenant=tenant, target=technician
        )

    page = rows_of(owner_client.get(TRAIL, {"event": AuditEventType.SIGNED_OUT}))

    assert f'href="?event={AuditEventType.SIGNED_OUT.value}&amp;page=2"' in page
    last = rows_of(owner_client.get(TRAIL, {"event": AuditEventType.SIGNED_OUT, "page": 3}))
    assert last.count("Signed out</td>") == 5  # 25 a page


@pytest.mark.parametrize(
    "query",
    [
        {"event": "999"},
        {"event": "sign-in"},
        {"person": "abc"},
        {"person": "99999999999999999999999"},
        {"ip": "300.1.1.1"},
        {"since": "yesterday"},
        {"since": "2026-02-30"},
        {"until": "99999-01-01"},
        {"since": "2026-03-05", "until": "2026-03-01"},
        {"tenant": "whatever"},
        {"page": "99999999999999999999999999"},
        {"page": "-1"},
        {"page": "two"},
        {"event": ["100", "101"], "ip": "\x00"},
    ],
)
def test_bad_filters_get_a_message_never_a_crash(owner_client, history, query):
    response = owner_client.get(TRAIL, query)

    assert response.status_code == 200
    export = owner_client.get(EXPORT, query)
    assert export.status_code in (200, 400)


def test_bad_filter_explains_itself(owner_client, history):
    page = rows_of(owner_client.get(TRAIL, {"since": "2026-03-05", "until": "2026-03-01"}))

    assert "The start date is after the end date." in page
    assert "Fix the filters above" in page


def test_extreme_dates_are_fine(owner_client, history):
    response = owner_client.get(TRAIL, {"since": "0001-01-01", "until": "9999-12-31"})

    assert "Sign-in failed</span>" in rows_of(response)


def test_another_tenants_person_cannot_be_used_as_a_filter(owner_client, history):
    response = owner_client.get(TRAIL, {"person": history.pk})

    assert "Choose a person from the list." in rows_of(response)
    assert "stranger@contoso.example" not in rows_of(response)
    assert owner_client.get(EXPORT, {"person": history.pk}).status_code == 400


def test_tenant_filter_is_for_operators_only(owner_client, history, other_tenant):
    response = owner_client.get(TRAIL, {"tenant": other_tenant.slug})

    assert "stranger@contoso.example" not in rows_of(response)


def test_operators_read_every_tenant_and_can_narrow_to_one(history, other_tenant):
    operator = OperatorFactory()
    client = sign_in(Client(), operator, **FROM_THE_OFFICE)

    everything = rows_of(client.get(TRAIL))
    one = rows_of(client.get(TRAIL, {"tenant": other_tenant.slug}))

    assert "stranger@contoso.example" in everything
    assert "tech@northwind.example" in everything
    assert "stranger@contoso.example" in one
    assert "tech@northwind.example" not in one


def export_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_export_streams_the_filtered_rows(owner_client, history, owner):
    response = owner_client.get(EXPORT, {"event": AuditEventType.SIGN_IN_FAILED})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-northwind-it-')
    rows = export_rows(response)
    assert rows[0][:4] == ["time_utc", "tenant", "event", "event_code"]
    assert [row[2] for row in rows[1:]] == ["Sign-in failed"]
    assert rows[1][0] == "2026-03-02T09:00:00+00:00"
    assert rows[1][7] == "Chrome on Windows"
    exported = AuditEvent.objects.get(event=AuditEventType.AUDIT_EXPORTED)
    assert exported.actor == owner
    assert exported.tenant == owner.tenant
    assert exported.details == {"event": str(AuditEventType.SIGN_IN_FAILED.value)}


def test_export_never_includes_another_tenants_rows(owner_client, history):
    rows = export_rows(owner_client.get(EXPORT))

    assert all("contoso" not in cell for row in rows for cell in row)
    assert len(rows) > 3


def test_export_escapes_spreadsheet_formulas(owner_client, tenant):
    for email in ["=1+2@example.com", "+1@example.com", "-2+3@example.com"]:
        UserFactory(tenant=tenant, email=email)
        fail_sign_in(Client(), email, HTTP_USER_AGENT="=cmd|' /C calc'!A0")
    audit_event_record(
        event=AuditEventType.ADMIN_ACTION,
        actor=None,
        tenant=tenant,
        details={"note": "=1+2"},
    )

    rows = export_rows(owner_client.get(EXPORT))

    assert {row[5] for row in rows[1:] if row[5]} >= {
        "'=1+2@example.com",
        "'+1@example.com",
        "'-2+3@example.com",
    }
    assert "'=cmd|' /C calc'!A0" in {row[8] for row in rows[1:]}
    assert all(
        not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )


def test_export_quotes_commas_quotes_and_line_breaks_as_csv_does(owner_client, tenant, owner):
    details = {"note": 'one, "two"\nthree', "ünï": ["x", 1.5, None], "a": {"z": 1, "b": True}}
    audit_event_record(
        event=AuditEventType.ADMIN_ACTION, actor=owner, tenant=tenant, details=details
    )

    rows = export_rows(owner_client.get(EXPORT))

    (row,) = [row for row in rows[1:] if row[3] == str(AuditEventType.ADMIN_ACTION.value)]
    assert len(row) == 12
    stored = AuditEvent.objects.get(event=AuditEventType.ADMIN_ACTION).details
    assert row[9] == json.dumps(stored, sort_keys=True, ensure_ascii=False)
    assert ", " in row[9] and '"' in row[9] and "ü" in row[9]
    assert row[4] == owner.email


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_export_reads_inside_a_transaction_so_postgresql_streams_its_rows(owner, tenant):
    """Outside a transaction the server-side cursor would be declared WITH HOLD, which makes
    PostgreSQL run the whole query and store every row before the first is sent."""
    client = sign_in(Client(), owner, **FROM_THE_OFFICE)
    for _ in range(3):
        audit_event_record(event=AuditEventType.ADMIN_ACTION, actor=owner, tenant=tenant)

    with CaptureQueriesContext(connection) as queries:
        rows = export_rows(client.get(EXPORT))

    declared = [query["sql"] for query in queries if query["sql"].startswith("DECLARE")]
    assert declared
    assert not any("WITH HOLD" in sql for sql in declared)
    assert len([row for row in rows if row[3] == str(AuditEventType.ADMIN_ACTION.value)]) == 3


def test_csv_cells_starting_with_formula_characters_are_prefixed():
    from audit.views import csv_safe

    assert csv_safe("=1+2") == "'=1+2"
    assert csv_safe("+1") == "'+1"
    assert csv_safe("-1") == "'-1"
    assert csv_safe("@x") == "'@x"
    assert csv_safe("\tx") == "'\tx"
    assert csv_safe("\rx") == "'\rx"
    assert csv_safe("safe=1") == "safe=1"
    assert csv_safe(None) == ""


def test_sign_in_history_link_and_trail_link_in_the_navigation(owner_client, client_signed_in):
    assert 'href="/audit/"' in rows_of(owner_client.get("/"))
    assert 'href="/audit/logins/"' in rows_of(owner_client.get("/"))
    assert 'href="/audit/"' not in rows_of(client_signed_in.get("/"))
    assert 'href="/audit/logins/"' in rows_of(client_signed_in.get("/"))


def test_trail_agent_in_words(owner_client, tenant, technician):
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=CHROME_WINDOWS)

    assert "Chrome on Windows" in rows_of(owner_client.get(TRAIL))


def test_person_trail_pages_match_the_plain_or_query(tenant, owner, technician):
    from audit.selectors import CappedPaginator, audit_trail, audit_trail_page_source

    colleague = UserFactory(tenant=tenant)
    pairs = [(owner, technician), (technician, technician), (technician, colleague)]
    for number in range(40):
        actor, target = pairs[number % 3]
        audit_event_record(
            event=AuditEventType.ADMIN_ACTION, actor=actor, tenant=tenant, target=target
        )
    audit_event_record(
        event=AuditEventType.ADMIN_ACTION, actor=owner, tenant=tenant, target=colleague
    )
    expected = list(audit_trail(viewer=owner, person=technician).values_list("pk", flat=True))

    source = audit_trail_page_source(viewer=owner, person=technician)
    paginator = CappedPaginator(source, 7, cap=30)
    seen = [event.pk for number in paginator.page_range for event in paginator.page(number)]

    assert len(expected) == 40
    assert paginator.capped
    assert seen == expected[:30]
    assert CappedPaginator(source, 7).count == 40


def test_details_have_readable_labels_and_times_in_the_one_format(owner_client, tenant, technician):
    audit_event_record(
        event=AuditEventType.SIGNED_OUT,
        actor=technician,
        tenant=tenant,
        target=technician,
        details={"other_sessions_ended": True, "deactivate_on": "2026-05-04T07:30:15+00:00"},
    )

    page = owner_client.get(TRAIL).content.decode()

    assert "<dt>Other sessions ended</dt><dd>yes</dd>" in page
    assert "<dt>Deactivation date</dt>" in page
    assert ">4 May 2026, 07:30 UTC</time>" in page
    assert "other_sessions_ended" not in page
    assert "hover for UTC" not in page
    assert "<details>" in page
