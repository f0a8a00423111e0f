import time
from datetime import datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command, execute_from_command_line
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import UserSession
from teams.services.people import person_reactivate
from tests.factories import OperatorFactory, TenantFactory, UserFactory, builtin_role
from tests.teams.queries import statements_run

NOW = datetime.fromisoformat("2026-06-01 12:00:00+00:00")


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def run(*args) -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("deactivate_stale_accounts", *args, stdout=out)
    return out.getvalue()


def live_session(person) -> str:
    store = SessionStore()
    store["_auth_user_id"] = str(person.pk)
    store.create()
    UserSession.objects.create(
        user=person,
        tenant=person.tenant,
        session_key=store.session_key,
        started_at=ago(1),
        last_active_at=ago(1),
    )
    return store.session_key


@pytest.fixture
def people(tenant, other_tenant, owner):
    """Everybody joined 400 days before NOW unless said otherwise."""
    owner.date_joined, owner.last_login = ago(400), ago(200)
    owner.save()
    with time_machine.travel(ago(400), tick=False):
        UserFactory(
            tenant=other_tenant,
            builtin=scopes.OWNER,
            email="fresh.owner@contoso.example",
            last_login=ago(1),
        )
        return {
            "stale": UserFactory(
                tenant=tenant, email="stale@northwind.example", last_login=ago(100)
            ),
            "fresh": UserFactory(
                tenant=tenant, email="fresh@northwind.example", last_login=ago(10)
            ),
            "never": UserFactory(
                tenant=tenant, email="never@northwind.example", date_joined=ago(100)
            ),
            "new": UserFactory(tenant=tenant, email="new@northwind.example", date_joined=ago(5)),
            "gone": UserFactory(
                tenant=tenant, email="gone@northwind.example", last_login=ago(300), is_active=False
            ),
            "operator": OperatorFactory(last_login=ago(500)),
            "stale_owner": UserFactory(
                tenant=other_tenant,
                builtin=scopes.OWNER,
                email="stale.owner@contoso.example",
                last_login=ago(150),
            ),
            "owner": owner,
        }


def active(person) -> bool:
    person.refresh_from_db()
    return person.is_active


def test_dry_run_lists_and_changes_nothing(people):
    output = run("--days", "90", "--dry-run", "-v", "2")

    assert "Contoso Support (contoso-support): would deactivate 1" in output
    assert "Northwind IT (northwind-it): would deactivate 2; kept owner@northwind.example" in output
    assert "  stale@northwind.example" in output and "  never@northwind.example" in output
    assert "Total: would deactivate 3 people in 2 tenants." in output
    assert all(active(person) for key, person in people.items() if key != "gone")
    assert not AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED).exists()


def test_deactivates_the_stale_ends_sessions_audits_each_and_keeps_the_rest(people):
    key = live_session(people["stale"])

    output = run("--days", "90")

    assert "Northwind IT (northwind-it): deactivated 2, ended 1 sessions" in output
    assert "kept owner@northwind.example as the last Owner" in output
    assert "Contoso Support (contoso-support): deactivated 1, ended 0 sessions" in output
    assert [p for p in people if people[p].is_active and not active(people[p])] == [
        "stale",
        "never",
        "stale_owner",
    ]
    assert active(people["owner"]) and active(people["operator"]) and active(people["fresh"])
    assert SESSION_KEY not in SessionStore(session_key=key).load()
    assert not UserSession.objects.filter(user=people["stale"]).exists()
    events = AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED)
    assert {event.target_label: event.details for event in events} == {
        "stale@northwind.example": {"reason": "no sign-in for 90 days", "sessions": 1},
        "never@northwind.example": {"reason": "no sign-in for 90 days", "sessions": 0},
        "stale.owner@contoso.example": {"reason": "no sign-in for 90 days", "sessions": 0},
    }
    assert all(event.actor is None for event in events)


def test_running_again_changes_nothing(people):
    run("--days", "90")
    events = AuditEvent.objects.count()

    output = run("--days", "90")

    assert "Total: deactivated 0 people" in output
    assert AuditEvent.objects.count() == events


def test_only_the_named_tenant(people, tenant):
    output = run("--days", "90", "--tenant", "contoso-support")

    assert "Northwind" not in output
    assert not active(people["stale_owner"])
    assert active(people["stale"])


def test_a_reactivated_person_gets_a_fresh_start(people, owner):
    stale = people["stale"]
    stale.is_active = False
    stale.save()
    with time_machine.travel(ago(20), tick=False):
        person_reactivate(person=stale, actor=OperatorFactory())

    run("--days", "90")

    assert active(stale)


def test_the_last_owner_is_kept_even_when_every_owner_is_stale(tenant, owner):
    owner.date_joined, owner.last_login = ago(400), ago(300)
    owner.save()
    second = UserFactory(
        tenant=tenant, builtin=scopes.OWNER, date_joined=ago(400), last_login=ago(200)
    )

    run("--days", "90")

    assert not active(owner)
    assert active(second)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--days", "0"], "invalid number of days"),
        (["--days", "-4"], "invalid number of days"),
        (["--days", "soon"], "invalid number of days"),
        (["--days", "99999999999"], "invalid number of days"),
        ([], "the following arguments are required: --days"),
        (["--days", "30", "--tenant", "nowhere"], "No tenant with the slug 'nowhere'"),
    ],
)
def test_nonsense_is_refused_with_exit_status_2(people, capsys, monkeypatch, args, message):
    # A command run from the command line closes the database connections when it ends, which
    # would close the test's own transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "deactivate_stale_accounts", *args])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert all(active(person) for key, person in people.items() if key != "gone")


def stale_people(count: int, tenant) -> None:
    role = builtin_role(tenant, scopes.TECHNICIAN)
    start = User.objects.count()
    User.objects.bulk_create(
        User(
            email=f"stale{start + n}@{tenant.slug}.example",
            tenant=tenant,
            role=role,
            date_joined=ago(400),
            last_login=ago(200),
        )
        for n in range(count)
    )


def test_the_number_of_queries_does_not_grow_with_the_accounts(tenant, owner, other_tenant):
    UserFactory(tenant=other_tenant, builtin=scopes.OWNER)
    # Each tenant's audit chain is locked once, so both runs touch the same two tenants.
    stale_people(10, tenant)
    stale_people(10, other_tenant)
    with time_machine.travel(NOW, tick=False):
        few = statements_run(lambda: call_command("deactivate_stale_accounts", "--days", "90"))
    stale_people(1000, tenant)
    stale_people(1000, other_tenant)
    with time_machine.travel(NOW, tick=False):
        many = statements_run(lambda: call_command("deactivate_stale_accounts", "--days", "90"))

    assert few == many
    assert User.objects.filter(is_active=False).count() == 2020


@pytest.mark.postgres
def test_one_hundred_thousand_accounts_in_a_fixed_number_of_queries(db, capsys):
    """100,000 stale accounts over 20 tenants, on Postgres: the work is done in bulk, whatever
    the size. The time is printed as a figure (docs/teams.md), not asserted: a shared machine's
    load would make a time limit flaky."""
    for tenant in [TenantFactory() for _ in range(20)]:
        role = builtin_role(tenant, scopes.TECHNICIAN)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_user (email, full_name, tenant_id, role_id, is_active, "
                "is_staff, is_superuser, date_joined, last_login, password, "
                "password_change_required) "
                "SELECT 'stale' || n || '@' || %s || '.example', '', %s, %s, true, false, false, "
                "%s, %s, '!', false FROM generate_series(1, 5000) AS n",
                [tenant.slug, tenant.pk, role.pk, ago(400), ago(200)],
            )
    with time_machine.travel(NOW, tick=True), CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        call_command("deactivate_stale_accounts", "--days", "90", stdout=StringIO())
        seconds = time.perf_counter() - started

    with capsys.disabled():
        print(f"\n100,000 stale accounts: {seconds:.2f} s, {len(queries)} queries")
    assert User.objects.filter(is_active=False).count() == 100_000
    assert AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED).count() == 100_000
    assert len(queries) < 20


def test_progress_bar_is_drawn_only_on_a_terminal(tenant, owner):
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    stale_people(7, tenant)
    terminal, plain = Terminal(), StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("deactivate_stale_accounts", "--days", "90", "--dry-run", stdout=plain)
        call_command("deactivate_stale_accounts", "--days", "90", stdout=terminal)

    assert "[" not in plain.getvalue()
    assert "\rwriting audit events [##############################] 100% 7/7" in (
        terminal.getvalue()
    )
    assert "deactivated 7, ended 0 sessions" in terminal.getvalue().splitlines()[-2]
