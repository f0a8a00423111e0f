"""Set-password links are doors too: under required single sign-on, no invitation or reset link
sets a password, ends a session or lifts a lock, whenever it was mailed; break-glass people keep
theirs."""

from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import lockout_counters
from accounts.models import User
from accounts.services import password_reset_link_send
from audit.events import AuditEventType
from audit.models import AuditEvent
from sso.models import IdentityProvider
from sso.services import provider_save
from teams.models import Role, UserSession
from teams.services.people import person_invite
from teams.tokens import invitation_token_generator
from tests.accounts.helpers import LINK, link_in, mails_to
from tests.factories import UserSessionFactory
from tests.signing_in import sign_in_attempt

NEW_PASSWORD = "fresh-granite-lantern-orbit"
SET_PASSWORD = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}


def sso_required(provider: IdentityProvider, owner) -> None:
    provider.policy = IdentityProvider.Policy.REQUIRED
    provider.name = "Northwind Login"
    provider_save(provider=provider, client_secret="", break_glass=[owner], actor=owner)


def reset_link_for(person, owner, capture) -> str:
    mail.outbox.clear()
    with capture(execute=True):
        password_reset_link_send(user=person, actor=owner)
    (message,) = mails_to(person.email)
    return link_in(message)


def set_password_page(person) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(person.pk))
    return f"/accounts/reset/{uidb64}/set-password/"


def lock_out(email: str) -> None:
    browser = Client()
    for _ in range(5):
        sign_in_attempt(browser, email, "not-the-password")
    assert lockout_counters.lock_for(email=email, ip=None) is not None


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=AuditEventType.SET_PASSWORD_LINK_REFUSED))


def test_a_reset_link_mailed_before_sso_was_required_sets_nothing_after(
    sso_tenant, owner, technician, django_capture_on_commit_callbacks
):
    link = reset_link_for(technician, owner, django_capture_on_commit_callbacks)
    UserSessionFactory(user=technician)
    lock_out(technician.email)
    password_before = User.objects.get(pk=technician.pk).password
    sso_required(sso_tenant, owner)

    browser = Client()
    opened = browser.get(link)
    posted = browser.post(set_password_page(technician), SET_PASSWORD)

    page = opened.content.decode()
    assert opened.status_code == 200
    assert "signs you in through" in page and sso_tenant.label in page
    assert "new_password1" not in page
    assert "new_password1" not in posted.content.decode()
    assert User.objects.get(pk=technician.pk).password == password_before
    assert UserSession.objects.filter(user=technician).count() == 1
    assert lockout_counters.lock_for(email=technician.email, ip=None) is not None
    [refusal] = refusals()
    assert refusal.target == technician and refusal.details == {"sign_in_with": sso_tenant.label}


def test_a_form_opened_before_sso_was_required_is_refused_when_posted(
    sso_tenant, owner, technician, django_capture_on_commit_callbacks
):
    link = reset_link_for(technician, owner, django_capture_on_commit_callbacks)
    UserSessionFactory(user=technician)
    password_before = User.objects.get(pk=technician.pk).password
    browser = Client()
    form_page = browser.get(link)
    assert form_page.status_code == 302
    sso_required(sso_tenant, owner)

    posted = browser.post(form_page.url, SET_PASSWORD)

    assert posted.status_code == 200 and "signs you in through" in posted.content.decode()
    assert User.objects.get(pk=technician.pk).password == password_before
    assert UserSession.objects.filter(user=technician).count() == 1
    assert len(refusals()) == 1
    assert not AuditEvent.objects.filter(event=AuditEventType.PASSWORD_RESET_COMPLETED).exists()


def test_an_invitation_link_made_under_required_sso_sets_nothing(sso_tenant, owner, tenant):
    sso_required(sso_tenant, owner)
    person = User.objects.create_user(
        "new@northwind.example",
        None,
        tenant=tenant,
        role=Role.objects.for_tenant(tenant).get(name="Technician"),
    )
    token = invitation_token_generator.make_token(person)

    browser = Client()
    uidb64 = urlsafe_base64_encode(force_bytes(person.pk))
    opened = browser.get(f"/accounts/reset/{uidb64}/{token}/")
    posted = browser.post(set_password_page(person), SET_PASSWORD)

    assert "signs you in through" in opened.content.decode()
    assert posted.status_code == 200
    assert not User.objects.get(pk=person.pk).has_usable_password()
    assert len(refusals()) == 1


def test_an_invitation_under_required_sso_says_how_to_sign_in_instead_of_a_password_link(
    sso_tenant, owner, tenant, django_capture_on_commit_callbacks
):
    sso_required(sso_tenant, owner)
    mail.outbox.clear()
    # As an owner's next request would load it: with single sign-on now required.
    tenant.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        person_invite(
            tenant=tenant,
            email="new@northwind.example",
            role=Role.objects.for_tenant(tenant).get(name="Technician"),
            actor=owner,
        )

    (message,) = mails_to("new@northwind.example")
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert not LINK.search(body)
        assert sso_tenant.label in body
        assert "Use single sign-on" in body
        assert "/accounts/login/" in body


def test_a_break_glass_owner_keeps_their_reset_link(
    sso_tenant, owner, django_capture_on_commit_callbacks
):
    sso_required(sso_tenant, owner)
    link = reset_link_for(owner, owner, django_capture_on_commit_callbacks)

    browser = Client()
    form_page = browser.get(link)
    done = browser.post(form_page.url, SET_PASSWORD)

    assert done.status_code == 302
    assert User.objects.get(pk=owner.pk).check_password(NEW_PASSWORD)
    assert refusals() == []
