from datetime import datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from teams.notices import duration_in_words
from teams.services.sessions import sessions_expire
from teams.tasks import expire_idle_sessions
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in
from tests.teams.queries import statements_run

START = datetime.fromisoformat("2026-03-02 09:00:00+00:00")


def run() -> str:
    out = StringIO()
    call_command("expire_idle_sessions", stdout=out)
    return out.getvalue()


def test_command_ends_idle_and_expired_sessions_and_audits_each(technician, owner):
    owner.role.session_lifetime_minutes = 60
    owner.role.save()
    with time_machine.travel(START, tick=False) as clock:
        idle = sign_in(Client(), technician, REMOTE_ADDR="192.0.2.9")
        busy = sign_in(Client(), technician)
        long_lived = sign_in(Client(), owner)
        for _ in range(2):
            clock.shift(20 * 60)
            busy.get("/")
            long_lived.get("/")
        clock.shift(21 * 60)

        output = run()

        assert "Ended 2 sessions: 1 idle, 1 past their lifetime." in output
        assert idle.get("/").status_code == 302
        assert long_lived.get("/").status_code == 302
        assert busy.get("/").status_code == 200
    expired = AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED)
    assert sorted((event.target_label, event.details["reason"]) for event in expired) == [
        (owner.email, "lifetime"),
        (technician.email, "idle"),
    ]
    idle_event = expired.get(target=technician)
    assert idle_event.details["ip"] == "192.0.2.9"
    assert idle_event.tenant == technician.tenant and idle_event.actor is None


def test_the_next_request_of_a_session_ended_by_beat_is_told_why(technician):
    technician.tenant.idle_timeout_minutes = 10
    technician.tenant.save()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        clock.shift(11 * 60)
        sessions_expire()

        response = client.get("/", follow=True)
        again = client.get("/accounts/login/")

    assert "You were signed out after 10 minutes without activity." in response.content.decode()
    assert "without activity" not in again.content.decode()


def test_the_session_store_forgets_expired_rows(technician):
    with time_machine.travel(START, tick=False) as clock:
        sign_in(Client(), technician)
        clock.shift(14 * 60 * 60)
        sessions_expire()

        assert not Session.objects.exists()


def test_tenant_caps_and_operator_defaults_apply_in_bulk(technician, db):
    technician.tenant.idle_timeout_minutes = 5
    technician.tenant.save()
    with time_machine.travel(START, tick=False) as clock:
        capped = sign_in(Client(), technician)
        operator = sign_in(Client(), OperatorFactory())
        clock.shift(6 * 60)

        assert sessions_expire() == {"idle": 1, "lifetime": 0, "single_sign_on": 0}
        assert capped.get("/").status_code == 302
        assert operator.get("/").status_code == 200

        clock.shift(30 * 60)
        assert sessions_expire() == {"idle": 1, "lifetime": 0, "single_sign_on": 0}


def test_running_twice_ends_and_audits_each_session_once(technician):
    with time_machine.travel(START, tick=False) as clock:
        sign_in(Client(), technician)
        clock.shift(31 * 60)

        assert sessions_expire() == {"idle": 1, "lifetime": 0, "single_sign_on": 0}
        assert sessions_expire() == {"idle": 0, "lifetime": 0, "single_sign_on": 0}

    assert AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED).count() == 1


def make_idle_sessions(count: int, tenant) -> None:
    people = UserFactory.create_batch(3, tenant=tenant)
    UserSession.objects.bulk_create(
        UserSession(
            tenant=tenant,
            user=people[n % 3],
            session_key=f"bulk-{count}-{n}",
            started_at=START,
            last_active_at=START,
        )
        for n in range(count)
    )


def verify_intact() -> bool:
    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue().startswith("Audit log intact")


def expiry_queries() -> int:
    return statements_run(lambda: sessions_expire(now=START + timedelta(hours=1)))


def test_expiry_is_a_fixed_number_of_queries_however_many_sessions(tenant):
    make_idle_sessions(10, tenant)
    few = expiry_queries()
    make_idle_sessions(1000, tenant)
    many = expiry_queries()

    assert few == many
    assert AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED).count() == 1010
    assert not UserSession.objects.exists()
    assert verify_intact()


@pytest.mark.postgres
def test_more_sessions_than_a_statement_takes_parameters_end_in_the_same_statements(tenant):
    """PostgreSQL takes at most 65,535 parameters in a statement: ids travel as one."""
    make_idle_sessions(10, tenant)
    few = expiry_queries()
    make_idle_sessions(70_000, tenant)
    many = expiry_queries()

    assert few == many
    assert not UserSession.objects.exists()
    assert AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED).count() == 70_010


def test_progress_bar_is_drawn_only_on_a_terminal(tenant):
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    make_idle_sessions(12, tenant)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        terminal = Terminal()
        call_command("expire_idle_sessions", stdout=terminal)
    make_idle_sessions(3, tenant)
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        plain = run()

    assert "\rwriting audit events [##############################] 100% 12/12" in (
        terminal.getvalue()
    )
    assert terminal.getvalue().endswith("Ended 12 sessions: 12 idle, 0 past their lifetime.\n")
    assert plain == "Ended 3 sessions: 3 idle, 0 past their lifetime.\n"


def test_beat_runs_the_expiry_every_minute(technician):
    schedule = settings.CELERY_BEAT_SCHEDULE["expire-idle-sessions"]
    assert schedule == {"task": "teams.tasks.expire_idle_sessions", "schedule": 60.0}

    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        clock.shift(31 * 60)
        expire_idle_sessions.delay()

        assert client.get("/").status_code == 302
    assert not UserSession.objects.exists()


def test_the_note_is_worded_in_the_readers_language_not_the_enders(technician, owner):
    """The note is stored as data: the job (or an English owner) ends the session, and a
    reader whose browser asks for Spanish is told why in Spanish."""
    technician.tenant.idle_timeout_minutes = 10
    technician.tenant.save()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(HTTP_ACCEPT_LANGUAGE="es"), technician)
        clock.shift(11 * 60)
        sessions_expire()

        response = client.get("/", follow=True)

    page = response.content.decode()
    assert "Se cerró tu sesión tras 10 minutos sin actividad." in page
    assert "without activity" not in page


def test_durations_are_worded_with_plurals_in_each_language():
    with translation.override("en"):
        assert duration_in_words(61) == "1 hour 1 minute"
        assert duration_in_words(120) == "2 hours"
    with translation.override("es"):
        assert duration_in_words(90) == "1 hora 30 minutos"
