"""Secure by default (ASVS 5.0 V6.3.3): a new tenant's people and every operator need a second
factor; an owner may relax it for a role only after a warning, and that is audited."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.services import totp_device_remove
from teams import scopes
from teams.models import Role
from teams.services.roles import role_create
from tests.accounts.helpers import link_in, mails_to
from tests.accounts.test_onboarding import NEW_PASSWORD, choose_password
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, TenantFactory, UserFactory
from tests.signing_in import sign_in, sign_in_attempt

pytestmark = pytest.mark.django_db

SETUP = "/mfa/totp/setup/"


def test_a_new_tenants_owner_must_set_up_a_second_factor_at_first_sign_in(
    django_capture_on_commit_callbacks,
):
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_tenant", "Acme IT", "--owner-email", "boss@acme.example")
    choose_password(link_in(mails_to("boss@acme.example")[0]))

    browser = Client()
    response = sign_in_attempt(browser, "boss@acme.example", NEW_PASSWORD)

    assert response.url.startswith(SETUP)
    assert browser.get("/").url.startswith(SETUP)
    assert browser.get("/admin/").url.startswith(SETUP)
    owner = User.objects.get(email="boss@acme.example")
    assert Role.objects.for_tenant(owner.tenant).filter(require_mfa=False).count() == 0


def test_a_new_tenants_technician_must_set_up_a_second_factor():
    tenant = TenantFactory(roles_require_mfa=True)
    technician = UserFactory(tenant=tenant, builtin=scopes.TECHNICIAN)

    browser = sign_in(Client(), technician)

    assert browser.get("/").url.startswith(SETUP)


def test_a_role_made_later_requires_mfa_unless_said_otherwise(tenant, owner):
    role = role_create(tenant=tenant, actor=owner, values={"name": "Helpdesk", "scopes": []})

    assert role.require_mfa is True
    browser = sign_in(Client(), UserFactory(tenant=tenant, role=role))
    assert browser.get("/").url.startswith(SETUP)


def test_an_operator_must_set_up_a_second_factor_before_anything_else():
    operator = OperatorFactory(authenticator=False)
    browser = Client()

    response = sign_in_attempt(browser, operator.email, DEFAULT_PASSWORD)

    assert response.url.startswith(SETUP)
    assert browser.get("/admin/").url.startswith(SETUP)
    assert browser.get("/admin/accounts/user/").url.startswith(SETUP)


def test_an_operator_cannot_turn_their_second_factor_off(rf):
    operator = OperatorFactory()

    with pytest.raises(ValidationError) as refused:
        totp_device_remove(request=rf.post("/mfa/totp/remove/"), user=operator)

    assert refused.value.code == "mfa_required"


def _role_change(client, role, **values):
    data = {
        "idle_timeout_minutes": role.idle_timeout_minutes,
        "session_lifetime_minutes": role.session_lifetime_minutes,
        "max_sessions": role.max_sessions,
        **values,
    }
    return client.post(f"/admin/teams/role/{role.pk}/change/", data)


def test_relaxing_mfa_for_a_role_asks_first_then_is_audited_once(tenant, owner):
    technician_role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    Role.objects.filter(pk=technician_role.pk).update(require_mfa=True)
    technician_role.refresh_from_db()
    client = sign_in(Client(), owner)

    warned = _role_change(client, technician_role)

    assert warned.status_code == 200
    page = warned.content.decode()
    assert "a stolen or guessed password is enough" in page
    assert 'type="checkbox" name="confirm_mfa_relaxed"' in page
    technician_role.refresh_from_db()
    assert technician_role.require_mfa is True
    assert not AuditEvent.objects.filter(event=AuditEventType.MFA_REQUIREMENT_RELAXED).exists()

    confirmed = _role_change(client, technician_role, confirm_mfa_relaxed="on")

    assert confirmed.status_code == 302
    technician_role.refresh_from_db()
    assert technician_role.require_mfa is False
    relaxed = AuditEvent.objects.get(event=AuditEventType.MFA_REQUIREMENT_RELAXED)
    assert relaxed.actor == owner
    assert relaxed.details["changed"] == {"require_mfa": [True, False]}
    assert not AuditEvent.objects.filter(event=AuditEventType.ROLE_EDITED).exists()


def test_session_limits_above_the_bounds_are_refused_with_the_reason(tenant, owner):
    role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    client = sign_in(Client(), owner)

    response = _role_change(
        client, role, idle_timeout_minutes=61, session_lifetime_minutes=24 * 60 + 1
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "At most 60 minutes" in page
    assert "At most 1440 minutes (a day)" in page
    role.refresh_from_db()
    assert role.idle_timeout_minutes == 30
