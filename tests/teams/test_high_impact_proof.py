"""The owners' high-impact settings ask for a proof of identity made in the last five minutes
(HIGH_IMPACT_PROOF_MINUTES, ASVS 5.0 V7.5.3): single sign-on, the tenant policy, relaxing a
role's MFA requirement, audit webhooks and the full audit export."""

from urllib.parse import quote

import pytest
from django.test import Client

from audit.events import AuditEventType
from audit.models import AuditEvent, AuditWebhook
from teams import scopes
from teams.models import Role
from tests.signing_in import REAUTHENTICATE, prove_identity, sign_in

PAST_FIVE_MINUTES = 5 * 60 + 1
SETUP = "/mfa/totp/setup/"


def asks_for_a_proof(response, path: str) -> bool:
    return (
        response.status_code == 302
        and response.url == f"{REAUTHENTICATE}?next={quote(path, safe='')}"
    )


@pytest.fixture
def stale_owner(clock, owner) -> Client:
    """The owner, signed in more than five minutes ago."""
    client = sign_in(Client(), owner)
    clock.shift(PAST_FIVE_MINUTES)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/teams/tenant/{tenant}/change/",
        "/admin/sso/identityprovider/add/",
        "/admin/sso/domainverification/add/",
        "/admin/audit/auditwebhook/add/",
        "/audit/export.csv",
    ],
)
def test_high_impact_pages_ask_for_a_fresh_proof_and_come_back(
    clock, stale_owner, owner, tenant, path
):
    path = path.format(tenant=tenant.pk)

    refused = stale_owner.get(path)

    assert asks_for_a_proof(refused, path), refused
    assert prove_identity(stale_owner, owner, next_page=path).url == path
    assert stale_owner.get(path).status_code == 200


def test_right_after_signing_in_nothing_more_is_asked(clock, owner, tenant):
    client = sign_in(Client(), owner)
    clock.shift(60)

    assert client.get(f"/admin/teams/tenant/{tenant.pk}/change/").status_code == 200


def test_a_stale_proof_changes_no_tenant_policy(clock, stale_owner, tenant):
    path = f"/admin/teams/tenant/{tenant.pk}/change/"

    refused = stale_owner.post(path, {"idle_timeout_minutes": 10, "max_sessions": 2})

    assert asks_for_a_proof(refused, path)
    tenant.refresh_from_db()
    assert tenant.max_sessions != 2
    assert not AuditEvent.objects.filter(event=AuditEventType.TENANT_POLICY_CHANGED).exists()


def test_the_full_export_writes_nothing_without_a_fresh_proof(clock, stale_owner):
    stale_owner.get("/audit/export.csv")

    assert not AuditEvent.objects.filter(event=AuditEventType.AUDIT_EXPORTED).exists()


def test_a_webhooks_actions_ask_for_a_fresh_proof(clock, stale_owner, tenant):
    webhook = AuditWebhook.objects.create(tenant=tenant, url="https://hooks.example/audit")
    changelist = "/admin/audit/auditwebhook/"

    refused = stale_owner.post(
        changelist, {"action": "replace_secret", "_selected_action": [webhook.pk]}
    )

    assert asks_for_a_proof(refused, changelist)
    assert not AuditEvent.objects.filter(event=AuditEventType.AUDIT_WEBHOOK_SECRET_ROTATED).exists()


def _role_change(client: Client, role: Role, **values):
    data = {
        "idle_timeout_minutes": role.idle_timeout_minutes,
        "session_lifetime_minutes": role.session_lifetime_minutes,
        "max_sessions": role.max_sessions,
        **values,
    }
    return client.post(f"/admin/teams/role/{role.pk}/change/", data)


def test_relaxing_a_roles_mfa_requirement_asks_for_a_fresh_proof(clock, stale_owner, owner, tenant):
    role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    Role.objects.filter(pk=role.pk).update(require_mfa=True)
    role.refresh_from_db()

    refused = _role_change(stale_owner, role, confirm_mfa_relaxed="on")

    assert refused.status_code == 200
    page = refused.content.decode()
    assert "needs you to confirm it's you first" in page
    assert f'href="{REAUTHENTICATE}?next=' in page
    role.refresh_from_db()
    assert role.require_mfa is True

    prove_identity(stale_owner, owner)
    done = _role_change(stale_owner, role, confirm_mfa_relaxed="on")

    assert done.status_code == 302
    role.refresh_from_db()
    assert role.require_mfa is False


def test_other_changes_to_a_role_ask_for_no_proof(clock, stale_owner, tenant):
    role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    Role.objects.filter(pk=role.pk).update(require_mfa=True)
    role.refresh_from_db()

    done = _role_change(stale_owner, role, require_mfa="on", max_sessions=3)

    assert done.status_code == 302
    role.refresh_from_db()
    assert role.max_sessions == 3


def test_the_window_is_its_own_setting(clock, settings, owner):
    settings.HIGH_IMPACT_PROOF_MINUTES = 1
    client = sign_in(Client(), owner)
    clock.shift(2 * 60)

    assert client.get("/audit/export.csv").url.startswith(REAUTHENTICATE)
    assert client.get(SETUP).status_code == 200, "changing factors keeps its own window"
