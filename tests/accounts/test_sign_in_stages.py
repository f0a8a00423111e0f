"""A password alone is no sign-in: what a pending sign-in must leave untouched, and how it ends.

Until the sign-in was reworked into stages, the password step called `login()` and the second
step only upgraded that session. Each test here states what that got wrong; they all fail
against it.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from teams.services.people import person_deactivate
from teams.tokens import set_password_token_generator
from tests.factories import DEFAULT_PASSWORD
from tests.mfa.helpers import totp_code
from tests.signing_in import LOGIN, VERIFY, device_code, sign_in, sign_in_with_totp

NEW_PASSWORD = "amber-lighthouse-gravel-tune"


def signed_in_events(user: User):
    return AuditEvent.objects.filter(event=AuditEventType.SIGN_IN_SUCCEEDED, target=user)


def test_password_only_sign_ins_evict_none_of_the_persons_sessions(clock, user_with_totp):
    """The old flow tracked the half-signed-in session at the password step, so each one took
    a place under the cap and ended the person's oldest real session: anyone who knew the
    password could sign the person out everywhere without ever passing the second factor."""
    role = user_with_totp.role
    role.max_sessions = 2
    role.save()
    sessions = []
    for _ in range(2):
        sessions.append(sign_in_with_totp(Client(), user_with_totp))
        clock.shift(30)  # the next code; a code is spent once used
    real_keys = {client.session.session_key for client in sessions}

    for _ in range(3):
        stranger = sign_in(Client(), user_with_totp)
        assert stranger.get("/").url.startswith(VERIFY)

    assert (
        set(UserSession.objects.filter(user=user_with_totp).values_list("session_key", flat=True))
        == real_keys
    )
    for client in sessions:
        assert client.get("/").status_code == 200
    assert not AuditEvent.objects.filter(event=AuditEventType.SESSION_REVOKED).exists()


def test_password_only_sign_in_leaves_last_login_alone(clock, user_with_totp):
    """The old flow's `login()` at the password step set `last_login`: the person's "last signed
    in" showed a sign-in that never happened."""
    signed_in_at = timezone.now() - timedelta(days=3)
    User.objects.filter(pk=user_with_totp.pk).update(last_login=signed_in_at)

    sign_in(Client(), user_with_totp)

    user_with_totp.refresh_from_db()
    assert user_with_totp.last_login == signed_in_at


def test_password_only_sign_ins_leave_an_emailed_reset_link_working(clock, user_with_totp):
    """Django's reset token hashes `last_login`. The old flow set it at the password step, so
    anyone with the password (or a person who typed it and stopped at the code) silently killed
    the reset link the person had just been mailed."""
    uid = urlsafe_base64_encode(force_bytes(user_with_totp.pk))
    link = f"/accounts/reset/{uid}/{set_password_token_generator.make_token(user_with_totp)}/"

    for _ in range(3):
        sign_in(Client(), user_with_totp)
        clock.shift(60)

    browser = Client()
    response = browser.get(link)
    assert response.status_code == 302 and response.url.endswith("/set-password/"), response
    response = browser.post(
        response.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response.url == LOGIN
    user_with_totp.refresh_from_db()
    assert user_with_totp.check_password(NEW_PASSWORD)


def test_password_only_sign_in_is_no_activity_for_stale_account_deactivation(clock, user_with_totp):
    """Stale accounts are judged by `last_login`. The old flow's `login()` at the password step
    refreshed it, so a leaked password alone kept an abandoned account alive forever."""
    User.objects.filter(pk=user_with_totp.pk).update(
        date_joined=timezone.now() - timedelta(days=100)
    )

    sign_in(Client(), user_with_totp)
    call_command("deactivate_stale_accounts", "--days", "30", stdout=None)

    user_with_totp.refresh_from_db()
    assert not user_with_totp.is_active


def test_pending_sign_in_times_out_and_then_the_dashboard_asks_for_the_password(
    clock, user_with_totp
):
    """The old flow's half-signed-in session lived as long as any session (the role's idle
    timeout), waiting at the code page; a pending sign-in lasts PENDING_SIGN_IN_MINUTES."""
    client = sign_in(Client(), user_with_totp)
    clock.shift(settings.PENDING_SIGN_IN_MINUTES * 60 - 10)
    assert client.get("/").url.startswith(VERIFY)

    clock.shift(20)

    assert client.get("/").url == f"{LOGIN}?next=/"
    response = client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert client.get("/").url.startswith(LOGIN)
    assert not signed_in_events(user_with_totp).exists()
    assert not UserSession.objects.filter(user=user_with_totp).exists()


def test_person_deactivated_while_pending_is_not_signed_in_by_the_code(
    clock, owner, user_with_totp
):
    """The old flow had signed the person in at the password step; only the deactivation
    ending that session kept the code from finishing it. Here the pending sign-in is no
    session (the deactivation ends none), and the code itself is refused. The refusal ends the
    pending sign-in, so the sign-in page opens again instead of bouncing back to the step."""
    client = sign_in(Client(), user_with_totp)
    assert not UserSession.objects.filter(user=user_with_totp).exists()

    person_deactivate(person=user_with_totp, actor=owner)
    response = client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})

    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert client.get("/").url.startswith(LOGIN)
    assert client.get(LOGIN).status_code == 200
    deactivated = AuditEvent.objects.get(event=AuditEventType.PERSON_DEACTIVATED)
    assert deactivated.details == {"sessions": 0}
    assert not signed_in_events(user_with_totp).exists()
    assert not UserSession.objects.filter(user=user_with_totp).exists()


def test_person_deactivated_between_steps_can_neither_set_a_password_nor_sign_in(
    clock, owner, user_with_totp, password
):
    """Past the code, a required new password still waits. The old flow had a signed-in,
    verified session by then, tracked and counted; here the person is still nobody, and the
    new-password page refuses someone deactivated meanwhile."""
    User.objects.filter(pk=user_with_totp.pk).update(password_change_required=True)
    client = sign_in(Client(), user_with_totp)
    response = client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})
    assert response.url.startswith("/accounts/password/change/")
    assert not UserSession.objects.filter(user=user_with_totp).exists()

    person_deactivate(person=user_with_totp, actor=owner)
    response = client.post(
        "/accounts/password/change/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert client.get(LOGIN).status_code == 200
    user_with_totp.refresh_from_db()
    assert user_with_totp.check_password(password)
    assert not signed_in_events(user_with_totp).exists()
    assert not UserSession.objects.filter(user=user_with_totp).exists()


def test_a_password_changed_while_pending_ends_the_pending_sign_in(clock, user_with_totp):
    """Someone with the password (and, phished in real time, a code) waits at the second step
    while the person changes their password. A pending sign-in is no session, so ending the
    person's sessions does not end it: it must end because the password it proved is gone."""
    intruder = sign_in(Client(), user_with_totp)
    person = sign_in_with_totp(Client(), user_with_totp)
    response = person.post(
        "/accounts/password/change/",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content
    clock.shift(30)

    response = intruder.post(VERIFY, {"otp_token": totp_code(user_with_totp), "next": "/"})

    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert intruder.get("/").url.startswith(LOGIN)
    assert signed_in_events(user_with_totp).count() == 1
    assert UserSession.objects.filter(user=user_with_totp).count() == 1


def test_enrolling_while_a_new_password_waits_shows_the_backup_codes_then_the_step(
    clock, tenant, technician
):
    """Codes made by an enrolment mid sign-in are shown to a session that is still anonymous;
    the page used to read the person from `request.user` and answered 500."""
    tenant.require_mfa = True
    tenant.save()
    User.objects.filter(pk=technician.pk).update(password_change_required=True)
    client = sign_in(Client(), technician)
    setup = client.get("/mfa/totp/setup/?next=/")
    assert setup.status_code == 200
    device = setup.context["device"]

    response = client.post(
        "/mfa/totp/setup/?next=/", {"otp_token": device_code(device), "next": "/"}
    )

    assert response.status_code == 200
    assert technician.email in response.context["download_href"].replace("%40", "@")
    assert len(response.context["codes"]) == 10
    assert client.get("/").url.startswith("/accounts/password/change/")
    assert not signed_in_events(technician).exists()
