import threading

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from tests.factories import OperatorFactory, UserFactory
from tests.signing_in import sign_in, sign_in_attempt

START = "2026-03-02 09:00:00+00:00"


def signed_out_with(client, message: str) -> None:
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert SESSION_KEY not in client.session
    assert message in response.content.decode()


def test_idle_session_is_signed_out_with_a_message_and_audited(technician):
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician, REMOTE_ADDR="192.0.2.5")
        clock.shift(29 * 60)
        assert client.get("/").status_code == 200
        clock.shift(29 * 60)
        assert client.get("/").status_code == 200
        clock.shift(30 * 60)

        signed_out_with(client, "You were signed out after 30 minutes without activity.")

    assert not UserSession.objects.filter(user=technician).exists()
    [expired] = AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED)
    assert (expired.target, expired.actor) == (technician, None)
    assert expired.details == {"reason": "idle"}


def test_session_past_its_lifetime_is_signed_out_however_active(technician):
    role = technician.role
    role.session_lifetime_minutes = 60
    role.save()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        for _ in range(2):
            clock.shift(20 * 60)
            assert client.get("/").status_code == 200
        clock.shift(20 * 60)

        signed_out_with(client, "a session lasts at most 1 hour.")

    [expired] = AuditEvent.objects.filter(event=AuditEventType.SESSION_EXPIRED)
    assert expired.details == {"reason": "lifetime"}


def test_the_tenant_cap_wins_when_stricter_than_the_role(technician):
    tenant = technician.tenant
    tenant.idle_timeout_minutes = 10
    tenant.save()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        clock.shift(9 * 60)
        assert client.get("/").status_code == 200
        clock.shift(10 * 60)

        signed_out_with(client, "after 10 minutes without activity")


def test_role_limit_wins_when_stricter_than_the_tenant(technician):
    technician.tenant.idle_timeout_minutes = 60
    technician.tenant.save()
    technician.role.idle_timeout_minutes = 5
    technician.role.save()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        clock.shift(5 * 60)

        signed_out_with(client, "after 5 minutes without activity")


def test_last_active_is_written_at_most_once_a_minute(technician):
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), technician)
        tracked = UserSession.objects.get(user=technician)

        clock.shift(30)
        with CaptureQueriesContext(connection) as queries:
            client.get("/")
        assert not [q for q in queries if q["sql"].startswith("UPDATE")]
        assert UserSession.objects.get(pk=tracked.pk).last_active_at == tracked.last_active_at

        clock.shift(30)
        client.get("/")
        touched = UserSession.objects.get(pk=tracked.pk).last_active_at
        assert (touched - tracked.last_active_at).total_seconds() == 60


def test_a_session_whose_tracking_row_is_gone_is_anonymous(technician):
    client = sign_in(Client(), technician)
    UserSession.objects.filter(user=technician).delete()

    signed_out_with(client, "This session was ended.")
    assert not Session.objects.filter(session_key=client.cookies["sessionid"].value).exists()


def test_a_new_sign_in_beyond_the_limit_ends_the_oldest_session(technician):
    technician.role.max_sessions = 2
    technician.role.save()
    with time_machine.travel(START) as clock:
        first = sign_in(Client(), technician)
        clock.shift(60)
        second = sign_in(Client(), technician)
        clock.shift(60)
        third = sign_in(Client(), technician)

        signed_out_with(first, "at most 2 sessions may be open at once")
        assert second.get("/").status_code == 200
        assert third.get("/").status_code == 200
    assert UserSession.objects.filter(user=technician).count() == 2
    [revoked] = AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details == {"reason": "session limit", "limit": 2, "sessions": 1}


def test_tenant_session_cap_applies(technician):
    technician.tenant.max_sessions = 1
    technician.tenant.save()

    first = sign_in(Client(), technician)
    second = sign_in(Client(), technician)

    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 200


def test_operators_get_the_default_limits(db):
    operator = OperatorFactory()
    with time_machine.travel(START, tick=False) as clock:
        client = sign_in(Client(), operator)
        clock.shift(31 * 60)

        signed_out_with(client, "after 30 minutes without activity")


def test_the_session_store_keeps_a_session_only_just_past_its_lifetime(technician):
    with time_machine.travel(START, tick=False):
        client = sign_in(Client(), technician)

        stored = Session.objects.get(session_key=client.cookies["sessionid"].value)
        assert stored.expire_date.isoformat() == "2026-03-02T22:00:00+00:00"


@pytest.mark.urls("tests.teams.rotating_urls")
def test_a_rotated_session_key_keeps_its_tracking_row(technician):
    client = sign_in(Client(), technician)
    old_key = client.cookies["sessionid"].value

    client.post("/rotate/")

    new_key = client.cookies["sessionid"].value
    assert new_key != old_key
    assert client.get("/").status_code == 200
    assert UserSession.objects.get(user=technician).session_key == new_key


@pytest.mark.urls("tests.teams.rotating_urls")
def test_a_rotated_session_moves_to_its_new_key_in_one_update(technician):
    client = sign_in(Client(), technician)
    old_key = client.cookies["sessionid"].value

    with CaptureQueriesContext(connection) as queries:
        client.post("/rotate/")

    new_key = client.cookies["sessionid"].value
    writes = [
        query["sql"].split(" ", 1)[0]
        for query in queries
        if '"django_session"' in query["sql"] and not query["sql"].startswith("SELECT")
    ]
    assert writes == ["UPDATE"]
    assert list(Session.objects.values_list("session_key", flat=True)) == [new_key]
    stale = Client()
    stale.cookies["sessionid"] = old_key
    assert stale.get("/").status_code == 302


def test_signing_in_as_someone_else_forgets_the_previous_persons_session(technician, owner):
    client = sign_in(Client(), technician)
    client.post("/accounts/logout/")
    sign_in(client, owner)

    assert not UserSession.objects.filter(user=technician).exists()
    assert UserSession.objects.filter(user=owner).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_session_cap_holds_under_parallel_sign_ins(tenant, password, settings):
    # Attempts in flight hold lockout slots until their password is checked; keep the lock
    # out of the way so the session cap is what is tested.
    settings.LOCKOUT_FAILURES = 50
    person = UserFactory(tenant=tenant)
    person.role.max_sessions = 3
    person.role.save()
    parallel = 12
    barrier = threading.Barrier(parallel)
    clients = [Client() for _ in range(parallel)]
    statuses = []

    def sign_in_at_once(client):
        try:
            barrier.wait()
            statuses.append(sign_in_attempt(client, person.email, password).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in_at_once, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [302] * parallel
    assert UserSession.objects.filter(user=person).count() == 3
    live = [client for client in clients if client.get("/").status_code == 200]
    assert len(live) == 3
    signed_in = [
        stored
        for stored in Session.objects.filter(
            session_key__in=[client.cookies["sessionid"].value for client in clients]
        )
        if SESSION_KEY in stored.get_decoded()
    ]
    assert len(signed_in) == 3
