"""The Security page: the tenant's policy in one place, grouped, saved through the policy
service (audited once), with the IP access list's warning true for whoever saves."""

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import AccessListEntry, Tenant
from teams.services.access_list import access_list_entry_save
from tests.factories import UserFactory
from tests.signing_in import sign_in

OFFICE = "198.51.100.0/24"
IN_OFFICE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"


def policy(tenant: Tenant, **changes) -> dict:
    """The form as the page posts it: every setting as it stands, with `changes`."""
    tenant.refresh_from_db()
    data = {
        "passwordless_sign_in": tenant.passwordless_sign_in,
        "require_mfa": tenant.require_mfa,
        "remember_browser_days": tenant.remember_browser_days,
        "idle_timeout_minutes": tenant.idle_timeout_minutes or "",
        "session_lifetime_minutes": tenant.session_lifetime_minutes or "",
        "max_sessions": tenant.max_sessions or "",
        "deactivate_after_days": tenant.deactivate_after_days or "",
        "access_list_enabled": tenant.access_list_enabled,
        "password_max_age_days": tenant.password_max_age_days or "",
        "password_history_count": tenant.password_history_count,
        "breached_password_check_at_sign_in": tenant.breached_password_check_at_sign_in,
        "audit_retention_months": tenant.audit_retention_months or "",
        "alert_owners_on_unusual_sign_in": tenant.alert_owners_on_unusual_sign_in,
        **changes,
    }
    return {name: value for name, value in data.items() if value is not False}


def office_only(tenant) -> None:
    access_list_entry_save(
        entry=AccessListEntry(tenant=tenant, network=OFFICE, label="Office"), roles=[], actor=None
    )


@pytest.fixture
def owner_browser(owner) -> Client:
    return sign_in(Client(REMOTE_ADDR=IN_OFFICE), owner)


def test_owners_reach_it_from_the_navigation_and_see_every_group(owner_browser):
    dashboard = owner_browser.get("/").content.decode()
    page = owner_browser.get("/security/").content.decode()

    assert '<a href="/security/">Security</a>' in dashboard
    for heading in (
        "Sign-in methods",
        "Two-factor and passkeys",
        "Sessions",
        "IP access list",
        "Single sign-on",
        "Passwords",
        "Audit",
        "Provisioning from your directory",
    ):
        assert f">{heading}</h2>" in page
    assert "Not enforced" in page
    assert 'href="/admin/sso/identityprovider/add/"' in page
    assert "None set up." in page
    for provisioning_page in ("provisioningtoken", "directorygroup", "provisioningsettings"):
        assert f'href="/admin/provisioning/{provisioning_page}/"' in page
        assert owner_browser.get(f"/admin/provisioning/{provisioning_page}/").status_code == 200


def test_people_without_security_write_are_refused(client_signed_in):
    assert client_signed_in.get("/security/").status_code == 403
    assert '<a href="/security/">' not in client_signed_in.get("/").content.decode()


def test_saving_goes_through_the_policy_service_and_is_audited_once(owner, owner_browser, tenant):
    response = owner_browser.post(
        "/security/", policy(tenant, idle_timeout_minutes=20, remember_browser_days=3)
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.idle_timeout_minutes, tenant.remember_browser_days) == (20, 3)
    events = AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED)
    assert events.count() == 1
    assert events.get().actor == owner
    assert set(events.get().details["changed"]) == {"idle_timeout_minutes", "remember_browser_days"}
    assert "The security settings were saved." in owner_browser.get("/security/").content.decode()


def test_bad_input_is_refused_with_a_message_and_keeps_what_was_typed(owner_browser, tenant):
    response = owner_browser.post(
        "/security/", policy(tenant, idle_timeout_minutes=999, password_history_count=4)
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "At most 60 minutes" in page
    assert 'name="password_history_count" value="4"' in page
    tenant.refresh_from_db()
    assert tenant.password_history_count == 0
    assert not AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED).exists()


def test_an_owner_on_the_list_is_told_so_and_switches_it_on(owner_browser, tenant):
    office_only(tenant)

    page = owner_browser.get("/security/").content.decode()
    saved = owner_browser.post("/security/", policy(tenant, access_list_enabled=True))

    assert f"Your current address ({IN_OFFICE}) is allowed by the list." in page
    assert saved.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).access_list_enabled
    assert AuditEvent.objects.filter(event=AuditEventType.ACCESS_LIST_CHANGED).count() == 2


def test_the_exempt_owner_off_the_list_is_told_they_stay_signed_in(owner, tenant):
    office_only(tenant)
    browser = sign_in(Client(REMOTE_ADDR=ELSEWHERE), owner)

    page = browser.get("/security/").content.decode()
    refused = browser.post("/security/", policy(tenant, access_list_enabled=True))

    assert "Enforcing it would not sign you out, because you are the Owner exempt" in page
    assert "would sign you out at once" not in page
    assert "You stay signed in only because you are the Owner exempt" in refused.content.decode()
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled


def test_an_owner_not_exempt_off_the_list_is_warned_they_would_be_signed_out(owner, tenant):
    office_only(tenant)
    Tenant.objects.filter(pk=tenant.pk).update(access_list_exempt_owner=owner)
    second = UserFactory(tenant=tenant, builtin=scopes.OWNER, email="second@northwind.example")
    browser = sign_in(Client(REMOTE_ADDR=ELSEWHERE), second)

    page = browser.get("/security/").content.decode()
    refused = browser.post("/security/", policy(tenant, access_list_enabled=True)).content.decode()

    assert f"Your current address ({ELSEWHERE}) is not on the list: enforcing it would" in page
    assert "Owner exempt" not in page
    assert "you would be signed out at once" in refused
    assert 'type="checkbox" name="confirm_exclusion"' in refused
    assert not Tenant.objects.get(pk=tenant.pk).access_list_enabled
    assert not AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED).exists()


def test_the_access_list_page_links_to_the_security_page(owner_browser):
    page = owner_browser.get("/admin/teams/accesslistentry/").content.decode()

    assert 'href="/security/#security-access_list"' in page


def test_the_security_page_asks_for_a_fresh_proof(clock, owner, tenant):
    browser = sign_in(Client(), owner)
    clock.shift(6 * 60)

    shown = browser.get("/security/")
    saved = browser.post("/security/", policy(tenant, idle_timeout_minutes=20))

    assert shown.status_code == 302
    assert shown.url.startswith("/mfa/confirm-password/")
    assert saved.url.startswith("/mfa/confirm-password/")
    tenant.refresh_from_db()
    assert tenant.idle_timeout_minutes is None
