""" "Don't ask for a code on this browser": a remembered browser skips the second step only."""

import hashlib
import io

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.alerts import report_link_url
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from mfa import services as mfa_services
from mfa.services import mfa_factors_reset
from teams.models import AccessListEntry, RememberedBrowser
from teams.services.access_list import access_list_entry_save, access_list_switch
from teams.services.people import person_deactivate, person_reactivate, person_update
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, TOTPDeviceFactory, UserFactory
from tests.mfa.helpers import request_with_fresh_proof, totp_code
from tests.signing_in import VERIFY, sign_in, sign_in_attempt

SESSIONS = "/accounts/sessions/"
COOKIE = settings.REMEMBERED_BROWSER_COOKIE_NAME
REMEMBER_LABEL = "Don&#x27;t ask for a code on this browser for 7 days"


def events(kind: AuditEventType):
    return AuditEvent.objects.filter(event=kind)


def remembered_client(user, **extra) -> Client:
    """A browser that signed in with a code and ticked "Don't ask for a code on this browser"."""
    client = sign_in(Client(), user, **extra)
    response = client.post(
        VERIFY, {"otp_token": totp_code(user), "remember": "on", "next": "/"}, **extra
    )
    assert response.status_code == 302 and response.url == "/", response.content
    return client


def sign_out(client: Client) -> None:
    client.post("/accounts/logout/")


def skips_second_step(client: Client, user) -> bool:
    """Sign in with the password again and say whether the browser went straight in."""
    response = sign_in_attempt(client, user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302, response.content
    return not response.url.startswith(VERIFY)


def test_the_second_step_offers_the_tenants_number_of_days(half_signed_in):
    page = half_signed_in.get(VERIFY).content.decode()

    assert REMEMBER_LABEL in page
    assert 'name="remember"' in page


def test_a_tenant_with_remembering_off_offers_nothing(clock, user_with_totp):
    user_with_totp.tenant.remember_browser_days = 0
    user_with_totp.tenant.save()
    client = sign_in(Client(), user_with_totp)

    assert 'name="remember"' not in client.get(VERIFY).content.decode()
    client.post(VERIFY, {"otp_token": totp_code(user_with_totp), "remember": "on"})
    assert COOKIE not in client.cookies
    assert not RememberedBrowser.objects.exists()


def test_remembering_sets_a_hardened_cookie_and_stores_only_its_hash(clock, user_with_totp):
    client = remembered_client(user_with_totp, HTTP_USER_AGENT="Mozilla/5.0 Firefox/133.0")

    cookie = client.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert len(cookie.value) >= 43
    browser = RememberedBrowser.objects.get()
    assert browser.user == user_with_totp and browser.tenant == user_with_totp.tenant
    assert browser.token_hash == hashlib.sha256(cookie.value.encode()).hexdigest()
    assert cookie.value not in browser.token_hash
    assert (browser.expires_at - browser.created_at).days == 7
    remembered = events(AuditEventType.BROWSER_REMEMBERED).get()
    assert remembered.target == user_with_totp and remembered.details["days"] == 7


def test_a_remembered_browser_skips_only_the_code_and_only_on_that_browser(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)

    response = sign_in_attempt(laptop, user_with_totp.email, DEFAULT_PASSWORD)

    assert response.status_code == 302 and response.url == "/"
    assert laptop.get("/").status_code == 200, "the session counts as verified"
    assert DEVICE_ID_SESSION_KEY in laptop.session
    used = events(AuditEventType.REMEMBERED_BROWSER_USED).get()
    assert used.target == user_with_totp
    assert events(AuditEventType.SIGN_IN_SUCCEEDED).latest("id").details == {
        "door": "password",
        "second_factor": "remembered_browser",
    }
    assert RememberedBrowser.objects.get().last_used_at is not None
    other_browser = sign_in(Client(), user_with_totp)
    assert other_browser.get("/").url.startswith(VERIFY), "another browser is still asked"


def test_a_remembered_browser_never_stands_in_for_a_required_passkey(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)
    user_with_totp.role.require_phishing_resistant = True
    user_with_totp.role.save(update_fields=["require_phishing_resistant"])

    response = sign_in_attempt(laptop, user_with_totp.email, DEFAULT_PASSWORD)

    assert response.status_code == 302 and response.url != "/"
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_a_remembered_browser_never_skips_the_password(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)

    response = sign_in_attempt(laptop, user_with_totp.email, "not-the-password-at-all")

    assert response.status_code == 200
    assert laptop.get("/").status_code == 302
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_a_remembered_browser_never_skips_the_lockout(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(laptop, user_with_totp.email, "not-the-password-at-all")

    response = sign_in_attempt(laptop, user_with_totp.email, DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert laptop.get("/").status_code == 302
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_a_remembered_browser_never_skips_the_ip_access_list(clock, user_with_totp, tenant):
    laptop = remembered_client(user_with_totp, REMOTE_ADDR="198.51.100.1")
    sign_out(laptop)
    access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network="192.0.2.0/24", label="Office"),
        roles=(),
        actor=None,
    )
    access_list_switch(tenant=tenant, enabled=True, actor=None)

    response = sign_in_attempt(
        laptop, user_with_totp.email, DEFAULT_PASSWORD, REMOTE_ADDR="198.51.100.1"
    )

    assert response.status_code == 403
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_remembering_a_shared_browser_for_someone_else_leaves_the_first_persons_row(
    clock, user_with_totp, tenant
):
    colleague = UserFactory(tenant=tenant, email="colleague@northwind.example")
    TOTPDeviceFactory(user=colleague)
    shared = remembered_client(user_with_totp)
    sign_out(shared)

    sign_in(shared, colleague)
    shared.post(VERIFY, {"otp_token": totp_code(colleague), "remember": "on", "next": "/"})

    assert RememberedBrowser.objects.filter(user=user_with_totp).count() == 1
    assert RememberedBrowser.objects.filter(user=colleague).count() == 1
    sign_out(shared)
    assert not skips_second_step(shared, user_with_totp), "the cookie is the colleague's now"
    sign_out(shared)
    assert skips_second_step(shared, colleague)


def test_a_remembered_browser_never_skips_a_required_new_password(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)
    user_with_totp.password_change_required = True
    user_with_totp.save()

    response = sign_in_attempt(laptop, user_with_totp.email, DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/password/change/")
    assert laptop.get("/").url.startswith("/accounts/password/change/")


def test_an_expired_token_is_refused(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)
    clock.shift(7 * 24 * 3600 + 1)

    assert not skips_second_step(laptop, user_with_totp)
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_an_owner_shortening_the_setting_shortens_browsers_already_remembered(
    clock, user_with_totp
):
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)
    clock.shift(3 * 24 * 3600)
    user_with_totp.tenant.remember_browser_days = 2
    user_with_totp.tenant.save()

    assert not skips_second_step(laptop, user_with_totp)


def test_a_token_of_another_person_is_refused(clock, user_with_totp, tenant):
    colleague = UserFactory(tenant=tenant, email="colleague@northwind.example")
    TOTPDeviceFactory(user=colleague)
    laptop = remembered_client(user_with_totp)
    sign_out(laptop)

    stolen = Client()
    stolen.cookies[COOKIE] = laptop.cookies[COOKIE].value

    assert not skips_second_step(stolen, colleague)
    assert not skips_second_step(laptop, colleague)
    assert not events(AuditEventType.REMEMBERED_BROWSER_USED).exists()


def test_a_made_up_or_oversized_cookie_is_refused(clock, user_with_totp):
    for value in ("x" * 43, "y" * 5000):
        client = Client()
        client.cookies[COOKIE] = value
        assert not skips_second_step(client, user_with_totp)


def test_the_sessions_page_lists_remembered_browsers_and_forgets_one(clock, user_with_totp):
    laptop = remembered_client(user_with_totp, HTTP_USER_AGENT="Mozilla/5.0 Firefox/133.0")
    clock.shift(30)
    phone = remembered_client(
        user_with_totp, HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Version/17.1 Mobile/15E148 Safari"
    )
    page = laptop.get(SESSIONS).content.decode()
    assert "Remembered browsers" in page
    assert page.count('name="forget"') == 3, "one per browser and one for all"
    assert page.count("This browser") == 1
    phone_browser = RememberedBrowser.objects.get(token_hash=_hash(phone.cookies[COOKIE].value))

    response = laptop.post(SESSIONS, {"forget": phone_browser.pk})

    assert response.status_code == 302
    assert laptop.cookies[COOKIE].value, "the laptop keeps its own cookie"
    sign_out(phone)
    assert not skips_second_step(phone, user_with_totp)
    sign_out(laptop)
    assert skips_second_step(laptop, user_with_totp)
    forgotten = events(AuditEventType.REMEMBERED_BROWSERS_FORGOTTEN).get()
    assert forgotten.details == {"reason": "forgotten by its owner", "browsers": 1}


def test_forgetting_all_stops_this_browser_and_drops_its_cookie(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)

    laptop.post(SESSIONS, {"forget": "all"})

    assert laptop.cookies[COOKIE].value == ""
    assert not RememberedBrowser.objects.exists()
    sign_out(laptop)
    assert not skips_second_step(laptop, user_with_totp)


def test_another_persons_browser_id_is_a_404(clock, user_with_totp, owner):
    remembered_client(user_with_totp)
    browser = RememberedBrowser.objects.get()
    owner_browser = sign_in(Client(), owner)

    assert owner_browser.post(SESSIONS, {"forget": browser.pk}).status_code == 404
    assert owner_browser.post(SESSIONS, {"forget": "nonsense"}).status_code == 400
    assert RememberedBrowser.objects.exists()


def test_a_password_change_forgets_every_remembered_browser(clock, user_with_totp):
    laptop = remembered_client(user_with_totp)
    new_password = "a brand new passphrase 4 tests"

    response = laptop.post(
        "/accounts/password/change/",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": new_password,
            "new_password2": new_password,
        },
    )

    assert response.status_code == 302, response.content
    assert not RememberedBrowser.objects.exists()
    sign_out(laptop)
    response = sign_in_attempt(laptop, user_with_totp.email, new_password)
    assert response.url.startswith(VERIFY)
    assert events(AuditEventType.REMEMBERED_BROWSERS_FORGOTTEN).get().details == {
        "reason": "password changed",
        "browsers": 1,
    }


def test_an_mfa_reset_email_change_and_deactivation_forget_remembered_browsers(
    clock, tenant, owner
):
    people = []
    for name in ("reset", "email", "gone"):
        person = UserFactory(tenant=tenant, email=f"{name}@northwind.example")
        TOTPDeviceFactory(user=person)
        remembered_client(person)
        people.append(person)
    reset, email, gone = people

    mfa_factors_reset(target=reset, actor=owner, request=request_with_fresh_proof())
    person_update(person=email, actor=owner, email="renamed@northwind.example", full_name="E")
    person_deactivate(person=gone, actor=owner)

    assert not RememberedBrowser.objects.exists()
    reasons = sorted(
        event.details["reason"] for event in events(AuditEventType.REMEMBERED_BROWSERS_FORGOTTEN)
    )
    assert reasons == ["deactivated", "mfa_reset", "sign-in email changed"]


def test_this_wasnt_me_forgets_remembered_browsers(clock, user_with_totp):
    remembered_client(user_with_totp)
    alert = audit_event_record(
        event=AuditEventType.UNUSUAL_SIGN_IN,
        actor=None,
        tenant=user_with_totp.tenant,
        target=user_with_totp,
        details={"sign_in": events(AuditEventType.SIGN_IN_SUCCEEDED).get().pk},
    )

    response = Client().post(report_link_url(alert=alert).removeprefix(settings.SITE_URL))

    assert response.status_code in (200, 302), response.content
    assert events(AuditEventType.SIGN_IN_REPORTED).exists()
    assert not RememberedBrowser.objects.exists()


def test_an_owner_sets_the_days_in_the_tenant_policy_audited(clock, owner, tenant):
    client = sign_in(Client(), owner)

    response = client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {"password_history_count": 0, "remember_browser_days": 31},
    )
    assert response.status_code == 200, "more than 30 days is refused"
    assert "Ensure this value is less than or equal to 30." in response.content.decode()

    response = client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {"password_history_count": 0, "remember_browser_days": 0},
    )

    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert tenant.remember_browser_days == 0
    assert events(AuditEventType.TENANT_POLICY_CHANGED).get().details == {
        "changed": {"remember_browser_days": [7, 0]}
    }


def test_operators_are_never_offered_a_remembered_browser(clock, db):
    operator = OperatorFactory()
    client = Client()
    assert sign_in_attempt(client, operator.email, DEFAULT_PASSWORD).url.startswith(VERIFY)

    page = client.get(VERIFY).content.decode()

    assert 'name="otp_token"' in page
    assert 'name="remember"' not in page


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_policy_form_without_the_days_keeps_them(clock, owner, tenant):
    client = sign_in(Client(), owner)

    response = client.post(
        f"/admin/teams/tenant/{tenant.pk}/change/",
        {"password_history_count": 0, "max_sessions": 3},
    )

    assert response.status_code == 302, response.content.decode()
    tenant.refresh_from_db()
    assert tenant.remember_browser_days == 7
    assert events(AuditEventType.TENANT_POLICY_CHANGED).get().details == {
        "changed": {"max_sessions": [None, 3]}
    }


def test_deactivation_for_inactivity_forgets_remembered_browsers(clock, user_with_totp):
    remembered_client(user_with_totp)
    clock.shift(100 * 24 * 3600)

    call_command("deactivate_stale_accounts", "--days", "90", stdout=io.StringIO())

    assert not RememberedBrowser.objects.exists()
    deactivated = events(AuditEventType.PERSON_DEACTIVATED).get(target=user_with_totp)
    assert deactivated.details["remembered_browsers"] == 1


def test_the_second_step_names_the_person_signing_in(half_signed_in, user_with_totp):
    page = half_signed_in.get(VERIFY).content.decode()

    assert f"You are signing in as <strong>{user_with_totp.email}</strong>." in page


def test_a_sign_in_waiting_past_a_remembered_browser_ends_when_the_person_reports_it(
    clock, user_with_totp
):
    """An intruder holding the password and a remembered browser's cookie gets to a required
    new password; the person reports "this wasn't me" meanwhile. The intruder's waiting sign-in
    must not go on to choose a password of their own."""
    intruder = remembered_client(user_with_totp)
    sign_out(intruder)
    user_with_totp.password_change_required = True
    user_with_totp.save()
    response = sign_in_attempt(intruder, user_with_totp.email, DEFAULT_PASSWORD)
    assert response.url.startswith("/accounts/password/change/")
    alert = audit_event_record(
        event=AuditEventType.UNUSUAL_SIGN_IN,
        actor=None,
        tenant=user_with_totp.tenant,
        target=user_with_totp,
        details={"sign_in": events(AuditEventType.SIGN_IN_SUCCEEDED).first().pk},
    )
    Client().post(report_link_url(alert=alert).removeprefix(settings.SITE_URL))
    intruders_password = "the intruder's own passphrase 7"

    response = intruder.post(
        "/accounts/password/change/",
        {"new_password1": intruders_password, "new_password2": intruders_password},
    )

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    user_with_totp.refresh_from_db()
    assert not user_with_totp.has_usable_password()
    assert "_auth_user_id" not in intruder.session
    assert not events(AuditEventType.PASSWORD_CHANGED).exists()


def test_a_person_deactivated_while_their_code_is_checked_gets_no_remembered_browser(
    clock, owner, user_with_totp, monkeypatch
):
    """An owner deactivates a person whose password leaked just as the intruder sends a right
    code with "Don't ask for a code" ticked. The deactivation forgets every remembered browser;
    one remembered a moment later must not outlive it and skip the code after a reactivation."""
    passed = mfa_services.sign_in_step_passed

    def deactivated_meanwhile(**kwargs):
        person_deactivate(person=user_with_totp, actor=owner)
        return passed(**kwargs)

    monkeypatch.setattr(mfa_services, "sign_in_step_passed", deactivated_meanwhile)
    intruder = sign_in(Client(), user_with_totp)

    response = intruder.post(
        VERIFY, {"otp_token": totp_code(user_with_totp), "remember": "on", "next": "/"}
    )

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert not RememberedBrowser.objects.exists()
    assert COOKIE not in response.cookies
    monkeypatch.undo()
    person_reactivate(person=user_with_totp, actor=owner)
    assert not skips_second_step(intruder, user_with_totp)
