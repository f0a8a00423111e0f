"""Proving who one is again: the password and, for a person with a second factor, that factor;
a new session key, an audit event, and what it guards (factors, one's own sign-in email and
role, ending one's other sessions); and "Sign out my other sessions" after a factor changes."""

import re

from django.contrib.admin import helpers
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import UserSession
from tests.factories import DEFAULT_PASSWORD, UserFactory, builtin_role
from tests.mfa.helpers import SETUP, backup_codes_issue, totp_code
from tests.signing_in import VERIFY, WRONG_PASSWORD, device_code, sign_in, sign_in_with_totp

REAUTH = "/mfa/confirm-password/"
PEOPLE = "/admin/accounts/user/"
CODES = "/mfa/backup-codes/"
REMOVE = "/mfa/totp/remove/"
SESSIONS = "/accounts/sessions/"
PAST_THE_PROOF = 6 * 60


def events(kind: AuditEventType):
    return AuditEvent.objects.filter(event=kind)


def reauthenticate(client: Client, password: str = DEFAULT_PASSWORD):
    return client.post(REAUTH, {"password": password, "next": "/"})


def test_proving_the_password_again_rotates_the_session_key_and_is_audited(clock, technician):
    client = sign_in(Client(), technician)
    old_key = client.session.session_key

    response = reauthenticate(client)

    assert response.status_code == 302 and response.url == "/"
    new_key = client.session.session_key
    assert new_key != old_key
    assert SessionStore(session_key=old_key).load() == {}
    assert UserSession.objects.get(user=technician).session_key == new_key
    assert client.get("/").status_code == 200
    proved = events(AuditEventType.REAUTHENTICATED).get()
    assert (proved.actor, proved.target) == (technician, technician)
    planted = Client()
    planted.cookies["sessionid"] = old_key
    assert planted.get("/").status_code == 302, "the old key is worth nothing"


def test_a_wrong_password_on_the_proof_page_is_audited_as_a_failure(clock, technician):
    client = sign_in(Client(), technician)
    old_key = client.session.session_key

    response = reauthenticate(client, WRONG_PASSWORD)

    assert response.status_code == 200
    assert client.session.session_key == old_key
    assert not events(AuditEventType.REAUTHENTICATED).exists()
    assert events(AuditEventType.SIGN_IN_FAILED).get().target == technician


def test_new_backup_codes_offer_to_sign_out_other_sessions_ticked(clock, user_with_totp):
    phone = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(30)
    laptop = sign_in_with_totp(Client(), user_with_totp)

    page = laptop.get(CODES).content.decode()
    assert re.search(r'<input type="checkbox" name="sign_out_others"[^>]* checked>', page)
    response = laptop.post(CODES, {"confirm": "on", "sign_out_others": "on"})

    assert response.status_code == 200
    assert phone.get("/").status_code == 302, "the other session ended"
    assert laptop.get("/").status_code == 200, "this one stays"
    revoked = events(AuditEventType.SESSION_REVOKED).get()
    assert revoked.details == {"reason": "second factors changed", "sessions": 1}


def test_unticking_keeps_the_other_sessions(clock, user_with_totp):
    phone = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(30)
    laptop = sign_in_with_totp(Client(), user_with_totp)

    laptop.post(CODES, {"confirm": "on"})

    assert phone.get("/").status_code == 200
    assert not events(AuditEventType.SESSION_REVOKED).exists()


def test_adding_an_authenticator_app_can_sign_out_other_sessions(clock, technician):
    phone = sign_in(Client(), technician)
    laptop = sign_in(Client(), technician)
    assert 'name="sign_out_others"' in laptop.get(SETUP).content.decode()
    device = TOTPDevice.objects.get(user=technician, confirmed=False)

    response = laptop.post(SETUP, {"otp_token": device_code(device), "sign_out_others": "on"})

    assert response.status_code == 200, "the new backup codes are shown"
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert events(AuditEventType.SESSION_REVOKED).get().details["sessions"] == 1


def test_removing_the_authenticator_app_can_sign_out_other_sessions(clock, user_with_totp):
    phone = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(30)
    laptop = sign_in_with_totp(Client(), user_with_totp)
    assert 'name="sign_out_others"' in laptop.get(REMOVE).content.decode()

    response = laptop.post(REMOVE, {"sign_out_others": "on"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user_with_totp).exists()
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert events(AuditEventType.SESSION_REVOKED).get().details["sessions"] == 1


def test_changing_ones_own_email_in_the_admin_needs_a_fresh_proof(clock, owner):
    client = sign_in(Client(), owner)
    clock.shift(PAST_THE_PROOF)
    change = f"{PEOPLE}{owner.pk}/change/"
    data = {"email": "new.owner@northwind.example", "full_name": "Olive Owner"}

    refused = client.post(change, data)

    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Changing your own sign-in email needs your password first" in page
    assert f'href="{REAUTH}?next=' in page
    assert 'value="new.owner@northwind.example"' in page, "what was typed is kept"
    owner.refresh_from_db()
    assert owner.email == "owner@northwind.example"

    reauthenticate(client)
    done = client.post(change, data)

    assert done.status_code == 302, done.content.decode()
    owner.refresh_from_db()
    assert owner.email == "new.owner@northwind.example"


def test_ones_own_name_and_other_peoples_email_need_no_fresh_proof(clock, owner, technician):
    client = sign_in(Client(), owner)
    clock.shift(PAST_THE_PROOF)

    own = client.post(
        f"{PEOPLE}{owner.pk}/change/", {"email": owner.email, "full_name": "Renamed Owner"}
    )
    other = client.post(
        f"{PEOPLE}{technician.pk}/change/",
        {"email": "tess@northwind.example", "full_name": "Tess Tech"},
    )

    assert own.status_code == 302 and other.status_code == 302
    technician.refresh_from_db()
    assert technician.email == "tess@northwind.example"


def change_role(client: Client, people, role) -> str:
    return client.post(
        PEOPLE,
        {
            "action": "change_role",
            "index": 0,
            helpers.ACTION_CHECKBOX_NAME: [person.pk for person in people],
            "apply": "1",
            "role": role.pk,
        },
        follow=True,
    ).content.decode()


def test_changing_ones_own_role_needs_a_fresh_proof(clock, owner, tenant):
    UserFactory(tenant=tenant, builtin=scopes.OWNER, email="second@northwind.example")
    client = sign_in(Client(), owner)
    clock.shift(PAST_THE_PROOF)
    admin_role = builtin_role(tenant, scopes.ADMIN)

    refused = change_role(client, [owner], admin_role)

    assert "Changing your own role needs your password first" in refused
    owner.refresh_from_db()
    assert owner.role.name == "Owner"

    reauthenticate(client)
    done = change_role(client, [owner], admin_role)

    assert "Gave 1 person the role Admin" in done
    owner.refresh_from_db()
    assert owner.role.name == "Admin"


# --- the proof matches the person: the password and their second factor (ASVS 5.0 V7.5.1)


def stale_totp_session(clock, person) -> Client:
    """A browser signed in with the person's app, its proof now too old."""
    client = sign_in_with_totp(Client(), person)
    clock.shift(PAST_THE_PROOF)
    return client


def test_a_person_with_an_app_proves_the_password_and_a_code(clock, user_with_totp):
    client = stale_totp_session(clock, user_with_totp)
    assert client.get(REMOVE).url.startswith(REAUTH)
    assert 'name="otp_token"' in client.get(REAUTH).content.decode()

    password_only = client.post(REAUTH, {"password": DEFAULT_PASSWORD, "next": REMOVE})

    assert password_only.status_code == 200
    assert "Enter the code." in password_only.content.decode()
    assert not events(AuditEventType.REAUTHENTICATED).exists()
    assert client.get(REMOVE).url.startswith(REAUTH), "a password alone proves nothing more"

    proved = client.post(
        REAUTH,
        {"password": DEFAULT_PASSWORD, "otp_token": totp_code(user_with_totp), "next": REMOVE},
    )

    assert proved.status_code == 302 and proved.url == REMOVE
    assert events(AuditEventType.REAUTHENTICATED).get().details == {"factor": "code"}
    assert client.get(REMOVE).status_code == 200


def test_a_wrong_code_is_a_failed_check_toward_the_lockout(clock, user_with_totp):
    client = stale_totp_session(clock, user_with_totp)

    refused = client.post(REAUTH, {"password": DEFAULT_PASSWORD, "otp_token": "000000"})

    assert refused.status_code == 200
    assert "That code didn" in refused.content.decode()
    assert events(AuditEventType.MFA_FAILED).get().target == user_with_totp
    assert not events(AuditEventType.REAUTHENTICATED).exists()
    assert client.get(REMOVE).url.startswith(REAUTH)


def test_a_wrong_password_checks_no_code(clock, user_with_totp):
    client = stale_totp_session(clock, user_with_totp)
    codes = backup_codes_issue(user_with_totp)

    client.post(REAUTH, {"password": WRONG_PASSWORD, "otp_token": codes[0]})
    proved = client.post(REAUTH, {"password": DEFAULT_PASSWORD, "otp_token": codes[0]})

    assert proved.status_code == 302, "the backup code was not used up by the refused try"


def test_a_backup_code_proves_the_factor_once(clock, user_with_totp):
    client = stale_totp_session(clock, user_with_totp)
    codes = backup_codes_issue(user_with_totp)

    proved = client.post(REAUTH, {"password": DEFAULT_PASSWORD, "otp_token": codes[0]})

    assert proved.status_code == 302
    assert events(AuditEventType.BACKUP_CODE_USED).count() == 1
    clock.shift(PAST_THE_PROOF)
    again = client.post(REAUTH, {"password": DEFAULT_PASSWORD, "otp_token": codes[0]})
    assert again.status_code == 200, "a backup code works once"


def test_a_remembered_browser_is_no_proof_of_the_factor(clock, user_with_totp):
    """The sign-in proved the password, but the browser stood in for the code: changing
    factors asks for the code."""
    client = sign_in(Client(), user_with_totp)
    client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "remember": "on"})
    client.post("/accounts/logout/")
    clock.shift(60)
    sign_in(client, user_with_totp)
    assert client.get("/").status_code == 200, "the remembered browser skipped the code"

    assert client.get(REMOVE).url.startswith(REAUTH)


def test_a_sign_in_with_the_code_is_a_fresh_proof(clock, user_with_totp):
    client = sign_in_with_totp(Client(), user_with_totp)

    assert client.get(REMOVE).status_code == 200


def test_a_person_without_a_factor_proves_the_password_alone(clock, technician):
    client = sign_in(Client(), technician)
    clock.shift(PAST_THE_PROOF)

    assert 'name="otp_token"' not in client.get(REAUTH).content.decode()
    assert reauthenticate(client).status_code == 302
    assert client.get(SETUP).status_code == 200


# --- ending all other sessions needs a fresh proof (ASVS 5.0 V7.5.2)


def test_ending_all_other_sessions_needs_a_fresh_proof(clock, user_with_totp):
    phone = sign_in_with_totp(Client(), user_with_totp)
    clock.shift(30)
    laptop = stale_totp_session(clock, user_with_totp)

    refused = laptop.post(SESSIONS, {"revoke": "others"})

    assert refused.status_code == 302 and refused.url.startswith(REAUTH)
    assert phone.get("/").status_code == 200, "nothing ended"
    laptop.post(REAUTH, {"password": DEFAULT_PASSWORD, "otp_token": totp_code(user_with_totp)})
    done = laptop.post(SESSIONS, {"revoke": "others"})

    assert done.status_code == 302 and done.url == SESSIONS
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
