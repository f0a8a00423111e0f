"""The person page of the people admin: what it shows, and each action from it, confirmed and
audited by the same services as the people list's actions; nothing offered that the viewer
can't do, and a crafted POST refused by the service."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import lockout_counters
from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from mfa.models import BackupCodeDevice
from outbox.models import OutboxMail
from teams import scopes
from teams.models import RememberedBrowser, Role, UserSession
from tests.factories import TOTPDeviceFactory, UserFactory, UserSessionFactory, builtin_role
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import prove_identity, sign_in, sign_in_attempt

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def page_of(person: User) -> str:
    return f"/admin/accounts/user/{person.pk}/change/"


def action_url(person: User, action: str, item=None) -> str:
    url = f"/admin/accounts/user/{person.pk}/manage/{action}/"
    return f"{url}?item={item.pk}" if item is not None else url


def browser_of(person: User) -> RememberedBrowser:
    now = timezone.now()
    return RememberedBrowser.objects.create(
        tenant=person.tenant,
        user=person,
        token_hash=f"{person.pk:064d}",
        user_agent=FIREFOX,
        created_at=now,
        expires_at=now + timedelta(days=7),
    )


def lock_out(person: User) -> None:
    browser = Client()
    for _ in range(5):
        sign_in_attempt(browser, person.email, "not-the-password")
    assert lockout_counters.lock_for(email=person.email, ip=None) is not None


@pytest.fixture
def person(tenant, technician):
    """A technician with a bit of everything the page shows and acts on."""
    tenant.remember_browser_days = 30
    tenant.save(update_fields=["remember_browser_days"])
    UserSessionFactory(user=technician, ip="198.51.100.7", user_agent=FIREFOX)
    UserSessionFactory(user=technician, ip="203.0.113.9", user_agent=FIREFOX)
    browser_of(technician)
    TOTPDeviceFactory(user=technician)
    backup_codes_issue(technician)
    audit_event_record(
        event=AuditEventType.SIGN_IN_SUCCEEDED,
        actor=technician,
        tenant=tenant,
        target=technician,
        details={"second_factor": "totp"},
    )
    return technician


@pytest.fixture
def owner_browser(owner) -> Client:
    return sign_in(Client(), owner)


def test_the_page_shows_status_factors_sessions_browsers_and_sign_ins(owner_browser, person):
    page = owner_browser.get(page_of(person)).content.decode()

    assert "Active" in page
    assert "Authenticator app" in page and "10 left" in page
    assert "198.51.100.7" in page and "203.0.113.9" in page and "Firefox on Linux" in page
    assert "Remembered browsers" in page
    assert "Password + authenticator app" in page
    for action in ("role", "reset-link", "end-sessions", "forget-browsers", "deactivate"):
        assert action_url(person, action) in page
    assert action_url(person, "reset-two-factor") in page
    assert action_url(person, "reactivate") not in page
    assert action_url(person, "unlock") not in page


def test_an_invited_person_shows_when_the_invitation_lapses(owner_browser, tenant):
    call_command("invite_user", "--tenant", tenant.slug, "--email", "new@northwind.example")
    invited = User.objects.get(email="new@northwind.example")

    page = owner_browser.get(page_of(invited)).content.decode()

    assert "Invited (lapses" in page and "They have not chosen a password yet." in page
    assert "Send the invitation again" in page
    assert action_url(invited, "reset-link") not in page


def test_a_locked_person_shows_until_when_and_is_unlocked_from_the_page(owner_browser, person):
    lock_out(person)
    page = owner_browser.get(page_of(person)).content.decode()
    assert "Locked" in page and "until" in page

    confirm = owner_browser.get(action_url(person, "unlock"))
    assert confirm.status_code == 200 and "Unlock tech@northwind.example?" in confirm.text
    response = owner_browser.post(action_url(person, "unlock"), follow=True)

    assert "Unlocked tech@northwind.example" in response.content.decode()
    assert lockout_counters.lock_for(email=person.email, ip=None) is None
    assert AuditEvent.objects.filter(event=AuditEventType.ACCOUNT_UNLOCKED).count() == 1


def _role_data(person):
    return {"role": builtin_role(person.tenant, scopes.READ_ONLY).pk}


ACTIONS = {
    # action: (event, what the POST adds, how the person changed)
    "deactivate": (
        AuditEventType.PERSON_DEACTIVATED,
        lambda person: {},
        lambda person: not User.objects.get(pk=person.pk).is_active,
    ),
    "role": (
        AuditEventType.ROLE_CHANGED,
        _role_data,
        lambda person: User.objects.get(pk=person.pk).role.name == "Read-only",
    ),
    "end-sessions": (
        AuditEventType.SESSION_REVOKED,
        lambda person: {},
        lambda person: not UserSession.objects.filter(user=person).exists(),
    ),
    "forget-browsers": (
        AuditEventType.REMEMBERED_BROWSERS_FORGOTTEN,
        lambda person: {},
        lambda person: not RememberedBrowser.objects.filter(user=person).exists(),
    ),
    "reset-link": (
        AuditEventType.PASSWORD_RESET_REQUESTED,
        lambda person: {},
        lambda person: OutboxMail.objects.filter(to=person.email).exists(),
    ),
    "reset-two-factor": (
        AuditEventType.MFA_RESET,
        lambda person: {},
        lambda person: not BackupCodeDevice.objects.filter(user=person).exists(),
    ),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_works_from_the_page_and_is_audited_once(action, owner, owner_browser, person):
    event, data, changed = ACTIONS[action]
    if action == "reset-two-factor":
        prove_identity(owner_browser, owner)

    confirm = owner_browser.get(action_url(person, action))
    assert confirm.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in confirm.text and "Cancel" in confirm.text
    response = owner_browser.post(action_url(person, action), data(person))

    assert response.status_code == 302 and response.url == page_of(person)
    assert changed(person)
    assert AuditEvent.objects.filter(event=event, target=person, actor=owner).count() == 1


def test_reactivating_from_the_page(owner, owner_browser, person):
    User.objects.filter(pk=person.pk).update(is_active=False)

    assert action_url(person, "reactivate") in owner_browser.get(page_of(person)).text
    owner_browser.post(action_url(person, "reactivate"))

    assert User.objects.get(pk=person.pk).is_active
    assert AuditEvent.objects.filter(event=AuditEventType.PERSON_REACTIVATED).count() == 1


def test_one_session_and_one_browser_end_from_their_rows(owner_browser, person):
    session = UserSession.objects.filter(user=person, ip="198.51.100.7").get()
    browser = RememberedBrowser.objects.get(user=person)
    page = owner_browser.get(page_of(person)).content.decode()
    assert action_url(person, "end-session", session) in page
    assert action_url(person, "forget-browser", browser) in page

    owner_browser.post(action_url(person, "end-session"), {"item": session.pk})
    owner_browser.post(action_url(person, "forget-browser"), {"item": browser.pk})

    assert list(UserSession.objects.filter(user=person).values_list("ip", flat=True)) == [
        "203.0.113.9"
    ]
    assert not RememberedBrowser.objects.filter(pk=browser.pk).exists()
    revoked = AuditEvent.objects.get(event=AuditEventType.SESSION_REVOKED)
    assert revoked.details["ip"] == "198.51.100.7"


def test_another_persons_session_is_a_404(owner_browser, person, tenant):
    stranger_session = UserSessionFactory(user=UserFactory(tenant=tenant))

    response = owner_browser.post(action_url(person, "end-session"), {"item": stranger_session.pk})

    assert response.status_code == 404
    assert UserSession.objects.filter(pk=stranger_session.pk).exists()


def test_resetting_factors_asks_for_the_password_first(clock, owner, person, settings):
    owner_browser = sign_in(Client(), owner)
    clock.shift(settings.MFA_FRESH_PROOF_MINUTES * 60 + 1)

    response = owner_browser.get(action_url(person, "reset-two-factor"))

    assert response.status_code == 302 and response.url.startswith("/mfa/confirm-password/")


@pytest.fixture
def read_only(tenant) -> User:
    """Someone who reads people and unlocks them, and may do nothing else to them."""
    helpdesk = Role.objects.create(
        tenant=tenant,
        name="Helpdesk",
        scopes=[scopes.MEMBERS_READ, scopes.LOCKOUT_UNLOCK],
        require_mfa=False,
    )
    return UserFactory(tenant=tenant, role=helpdesk, email="helpdesk@northwind.example")


def test_a_viewer_without_the_scopes_sees_the_person_and_no_action(read_only, person):
    browser = sign_in(Client(), read_only)

    page = browser.get(page_of(person)).content.decode()

    assert "198.51.100.7" in page and "Password + authenticator app" in page
    assert "/manage/" not in page
    for action in ACTIONS:
        assert browser.get(action_url(person, action)).status_code == 404


def test_a_viewer_holding_one_scope_is_offered_that_action_only(tenant, person):
    keeper = Role.objects.create(
        tenant=tenant,
        name="Session keeper",
        scopes=[scopes.MEMBERS_READ, scopes.SESSIONS_REVOKE],
        require_mfa=False,
    )
    browser = sign_in(Client(), UserFactory(tenant=tenant, role=keeper))
    lock_out(person)

    page = browser.get(page_of(person)).content.decode()

    assert "Locked" in page
    assert action_url(person, "end-sessions") in page
    assert action_url(person, "forget-browsers") in page
    for action in ("role", "deactivate", "reset-link", "reset-two-factor", "unlock"):
        assert action_url(person, action) not in page
    assert browser.get(action_url(person, "unlock")).status_code == 404


@pytest.mark.parametrize("action", ["deactivate", "role", "end-sessions", "reset-link"])
def test_a_crafted_post_without_the_scope_is_refused_by_the_service(action, read_only, person):
    browser = sign_in(Client(), read_only)
    before = (User.objects.get(pk=person.pk).role_id, UserSession.objects.count())

    # A role the viewer could give (no scopes): the form passes, and the service refuses.
    data = {"role": builtin_role(person.tenant, scopes.TECHNICIAN).pk} if action == "role" else {}
    response = browser.post(action_url(person, action), data, follow=True)

    assert "This needs the scope" in response.content.decode()
    assert (User.objects.get(pk=person.pk).role_id, UserSession.objects.count()) == before
    assert User.objects.get(pk=person.pk).is_active
    refusal = AuditEvent.objects.get(event=AuditEventType.ADMIN_ACTION_REFUSED)
    assert refusal.details["code"] == "scope_missing" and refusal.details["action"] == action


def test_acting_on_someone_above_is_hidden_and_a_crafted_post_refused(tenant, owner):
    admin = UserFactory(tenant=tenant, builtin=scopes.ADMIN, email="admin@northwind.example")
    UserSessionFactory(user=owner)
    browser = sign_in(Client(), admin)

    page = browser.get(page_of(owner)).content.decode()
    assert "/manage/" not in page
    response = browser.post(action_url(owner, "end-sessions"), follow=True)

    assert "holds scopes you don" in response.content.decode()
    assert UserSession.objects.filter(user=owner).exists()
    refusal = AuditEvent.objects.get(event=AuditEventType.ADMIN_ACTION_REFUSED)
    assert refusal.details["code"] == "above_you"


def test_another_tenants_person_is_a_404(owner_browser, other_owner):
    assert owner_browser.get(page_of(other_owner)).status_code == 404
    assert owner_browser.get(action_url(other_owner, "deactivate")).status_code == 404
    assert owner_browser.post(action_url(other_owner, "deactivate")).status_code == 404
    assert User.objects.get(pk=other_owner.pk).is_active


def test_one_does_not_deactivate_oneself_from_ones_own_page(owner, owner_browser):
    page = owner_browser.get(page_of(owner)).content.decode()

    assert action_url(owner, "deactivate") not in page
    assert action_url(owner, "role") in page
