"""Tenants may have current passwords checked against breached ones at sign-in, at most once a
day per person; a breached one leads to the new-password step after the second factor."""

from datetime import timedelta

import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.models import BreachedPasswordCheck
from accounts.tasks import recheck_breached_passwords
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from tests.mfa.helpers import totp_code
from tests.range_server import sha1_of
from tests.signing_in import VERIFY, sign_in, sign_in_attempt

CHANGE = "/accounts/password/change/"
CLEAN = "quiet-granite-lantern-orbit"


def checking_at_sign_in(person) -> None:
    person.tenant.breached_password_check_at_sign_in = True
    person.tenant.save()


def password_step(person, password: str) -> tuple[Client, object]:
    """The sign-in form in a browser of its own: the browser, and the form's answer."""
    client = Client()
    return client, sign_in_attempt(client, person.email, password)


def test_no_check_at_sign_in_unless_the_tenant_asks(range_server, technician, password):
    range_server.breached(password)

    client, response = password_step(technician, password)

    assert response.url == "/"
    assert range_server.seen == []
    assert client.session[SESSION_KEY] == str(technician.pk)


def test_a_breached_password_leads_to_a_new_one_after_the_second_factor(
    range_server, clock, user_with_totp, password
):
    person = user_with_totp
    checking_at_sign_in(person)
    range_server.breached(password)

    client, response = password_step(person, password)
    assert response.url.startswith(VERIFY), "the second factor comes first"
    assert range_server.prefixes_asked == [sha1_of(password)[:5]]
    assert range_server.seen[0].headers["Add-Padding"] == "true"

    after_code = client.post(VERIFY, {"otp_token": totp_code(person), "next": "/"})

    assert after_code.url == f"{CHANGE}?next=%2F"
    assert SESSION_KEY not in client.session
    page = client.get(CHANGE).content.decode()
    assert "Your password has appeared in a data breach" in page
    assert 'href="/help/passwords/"' in page
    assert not AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED).exists()

    done = client.post(f"{CHANGE}?next=%2F", {"new_password1": CLEAN, "new_password2": CLEAN})

    assert done.url == "/"
    assert client.session[SESSION_KEY] == str(person.pk)
    person.refresh_from_db()
    assert person.check_password(CLEAN)
    assert (person.password_breached_at, person.password_change_required) == (None, False)
    [found] = AuditEvent.objects.filter(event=AuditEventType.PASSWORD_FOUND_BREACHED)
    assert (found.target_id, found.details) == (person.pk, {"found": "sign_in"})
    mail = OutboxMail.objects.get(to=person.email, kind="password_breached")
    assert "last step of that sign-in" in mail.body_text


def test_a_breached_password_without_a_second_factor_leads_straight_to_a_new_one(
    range_server, technician, password
):
    checking_at_sign_in(technician)
    range_server.breached(password)

    client, response = password_step(technician, password)

    assert response.url.startswith(CHANGE)
    assert SESSION_KEY not in client.session


def test_the_sign_in_check_runs_at_most_once_a_day_per_person(
    range_server, technician, owner, password
):
    checking_at_sign_in(technician)

    with time_machine.travel("2026-03-02 09:00:00+00:00", tick=False) as traveller:
        assert password_step(technician, password)[1].url == "/"
        assert password_step(technician, password)[1].url == "/"
        assert len(range_server.seen) == 1
        assert password_step(owner, password)[1].url == "/"
        assert len(range_server.seen) == 2, "each person has their own day"

        traveller.shift(timedelta(hours=23))
        password_step(technician, password)
        assert len(range_server.seen) == 2

        traveller.shift(timedelta(hours=2))
        range_server.breached(password)
        client, response = password_step(technician, password)

    assert len(range_server.seen) == 3
    assert response.url.startswith(CHANGE)


def test_a_wrong_password_is_never_checked(range_server, technician, password):
    checking_at_sign_in(technician)

    client, response = password_step(technician, "not-the-password-at-all")

    assert response.status_code == 200
    assert range_server.seen == []


def test_an_unreachable_service_never_holds_up_a_sign_in_and_is_rechecked_later(
    range_server, settings, technician, password
):
    checking_at_sign_in(technician)
    settings.BREACHED_PASSWORDS_TIMEOUT = 0.2
    range_server.mode = "slow"

    client, response = password_step(technician, password)

    assert response.url == "/"
    assert client.session[SESSION_KEY] == str(technician.pk)
    [event] = AuditEvent.objects.filter(event=AuditEventType.BREACHED_CHECK_UNAVAILABLE)
    assert event.details == {"at": "sign_in", "reason": "timeout"}
    assert BreachedPasswordCheck.objects.get(user=technician).prefix == sha1_of(password)[:5]
    password_step(technician, password)
    assert len(range_server.seen) == 1, "a dead service slows one sign-in a day, not each"

    range_server.mode = "ok"
    range_server.breached(password)
    recheck_breached_passwords.delay()

    technician.refresh_from_db()
    assert technician.password_breached_at is not None
    assert password_step(technician, password)[1].url.startswith(CHANGE)


def test_owner_turns_the_sign_in_check_on_in_the_tenant_policy(owner, tenant):
    client = sign_in(Client(), owner)
    page = client.get(f"/admin/teams/tenant/{tenant.pk}/change/").content.decode()
    assert 'name="breached_password_check_at_sign_in"' in page

    response = client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {"password_history_count": 0, "breached_password_check_at_sign_in": "on"},
    )

    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert tenant.breached_password_check_at_sign_in is True
    [changed] = AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED)
    assert changed.details == {"changed": {"breached_password_check_at_sign_in": [False, True]}}


def test_the_password_guide_explains_the_check_to_technicians_and_owners(client, db):
    page = client.get("/help/passwords/").content.decode()

    assert "only the first five characters" in page
    assert "If you're asked to change a breached password" in page
    assert "check passwords against breaches at sign-in" in page
