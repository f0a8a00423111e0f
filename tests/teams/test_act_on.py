"""One guard before acting on a person (`teams.rules.act_on`), walked over every service that
changes or ends a person, their role, sessions, factors or links.

`GUARDED` names each such service with a way to call it; `NOT_ACTING_ON_ANOTHER` names every
other public function of the modules that hold them, with why it needs no guard. A new public
function in those modules belongs in one of the two, or `test_every_service_is_walked_or_excused`
fails: a service that acts on people can't be added without being walked here.
"""

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from django_otp import devices_for_user

from accounts import lockout_counters
from accounts.models import User
from accounts.services import lockout_unlock, password_reset_link_send
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.services import mfa_factors_reset
from outbox.models import OutboxMail
from provisioning.services.people import directory_person_remove, directory_person_update
from reviews.services import people_bulk_act
from sso.models import ProviderIdentity
from sso.services import identity_unlink
from support.models import RecoveryRequest
from support.services import recovery_request_handle
from teams import scopes
from teams.models import Role, UserSession
from teams.rules import ActingRefused, OtherTenantRefused, act_on
from teams.services.people import (
    invitation_resend,
    person_deactivate,
    person_password_change_require,
    person_reactivate,
    person_role_change,
    person_update,
)
from teams.services.remembered_browsers import person_remembered_browsers_forget
from teams.services.sessions import session_revoke, user_sessions_end
from tests.factories import (
    OperatorFactory,
    TOTPDeviceFactory,
    UserFactory,
    UserSessionFactory,
    builtin_role,
)
from tests.mfa.helpers import request_with_fresh_proof
from tests.signing_in import sign_in, sign_in_attempt


@dataclass(frozen=True)
class Door:
    """A service acting on `person`, called as `actor`. A bulk door reports refusals instead
    of raising them."""

    call: Callable[[User, User], object]
    bulk: bool = False
    prepare: Callable[[User], object] = lambda person: None


def _bulk(action: str) -> Door:
    def call(actor: User, person: User) -> None:
        done, refused = people_bulk_act(action=action, people=[person], actor=actor)
        assert not done and person.email in refused

    return Door(call, bulk=True)


def _recovery_decline(actor: User, person: User) -> None:
    recovery = RecoveryRequest.objects.create(
        tenant=person.tenant,
        person=person,
        reason=RecoveryRequest.Reason.LOCKED_OUT,
        created_at=timezone.now(),
    )
    recovery_request_handle(recovery=recovery, action="decline", actor=actor)


def _identity_unlink(actor: User, person: User) -> None:
    identity = ProviderIdentity.objects.get(user=person)
    identity_unlink(identity=identity, actor=actor)


def lock_out(person: User) -> None:
    browser = Client()
    for _ in range(5):
        sign_in_attempt(browser, person.email, "not-the-password")
    assert lockout_counters.lock_for(email=person.email, ip=None) is not None


GUARDED: dict[str, Door] = {
    "teams.services.people.person_update": Door(
        lambda actor, person: person_update(
            person=person, actor=actor, email="moved@elsewhere.example", full_name="Moved"
        )
    ),
    "teams.services.people.person_role_change": Door(
        lambda actor, person: person_role_change(
            person=person, role=builtin_role(person.tenant, scopes.READ_ONLY), actor=actor
        )
    ),
    "teams.services.people.person_deactivate": Door(
        lambda actor, person: person_deactivate(person=person, actor=actor)
    ),
    "teams.services.people.person_reactivate": Door(
        lambda actor, person: person_reactivate(person=person, actor=actor),
        prepare=lambda person: User.objects.filter(pk=person.pk).update(is_active=False),
    ),
    "teams.services.people.person_password_change_require": Door(
        lambda actor, person: person_password_change_require(person=person, actor=actor)
    ),
    "teams.services.people.invitation_resend": Door(
        lambda actor, person: invitation_resend(person=person, actor=actor)
    ),
    "teams.services.sessions.user_sessions_end": Door(
        lambda actor, person: user_sessions_end(user=person, actor=actor, reason="walk")
    ),
    "teams.services.sessions.session_revoke": Door(
        lambda actor, person: session_revoke(
            session=UserSession.objects.filter(user=person).first(), actor=actor, reason="walk"
        )
    ),
    "teams.services.remembered_browsers.person_remembered_browsers_forget": Door(
        lambda actor, person: person_remembered_browsers_forget(person=person, actor=actor)
    ),
    "accounts.services.lockout_unlock": Door(
        lambda actor, person: lockout_unlock(user=person, actor=actor), prepare=lock_out
    ),
    "accounts.services.password_reset_link_send": Door(
        lambda actor, person: password_reset_link_send(user=person, actor=actor)
    ),
    "mfa.services.mfa_factors_reset": Door(
        lambda actor, person: mfa_factors_reset(
            target=person, actor=actor, request=request_with_fresh_proof()
        )
    ),
    "support.services.recovery_request_handle": Door(_recovery_decline),
    "sso.services.identity_unlink": Door(_identity_unlink),
    "provisioning.services.people.directory_person_update": Door(
        lambda actor, person: directory_person_update(
            person=person,
            actor=actor,
            email=person.email,
            full_name="Renamed by the directory",
            external_id="dir-1",
            active=False,
        )
    ),
    "provisioning.services.people.directory_person_remove": Door(
        lambda actor, person: directory_person_remove(person=person, actor=actor)
    ),
    "reviews.services.people_bulk_act:deactivate": _bulk("deactivate"),
    "reviews.services.people_bulk_act:revoke_sessions": _bulk("revoke_sessions"),
    "reviews.services.people_bulk_act:require_password_change": _bulk("require_password_change"),
}

SELF_ONLY = "acts only on the person making the request (their own password or factors)"
SIGN_IN = "part of signing in or of a session's own life, for the person signing in"
SYSTEM_JOB = "a job of the system, choosing its rows by policy (idle or stale), run by beat"
STEP = "a step inside guarded services and self paths; no page calls it for another person"
NO_PERSON = "acts on no existing person"
TENANT_SETTING = "a tenant's settings, guarded by act_within (scope and tenant)"

NOT_ACTING_ON_ANOTHER: dict[str, str] = {
    "teams.services.people.person_create": NO_PERSON + ": makes one (tenant and grant rules)",
    "teams.services.people.person_invite": NO_PERSON + ": makes one (tenant and grant rules)",
    "teams.services.people.person_invite_or_notify": NO_PERSON + ": makes one, or mails",
    "teams.services.people.invitation_enqueue": STEP,
    "teams.services.people.set_password_mail_context": STEP,
    "teams.services.people.sign_in_instead_register": "wiring done in AppConfig.ready()",
    "teams.services.sessions.session_track": SIGN_IN,
    "teams.services.sessions.session_key_cycle": SIGN_IN,
    "teams.services.sessions.session_key_moved": SIGN_IN,
    "teams.services.sessions.session_forget": SIGN_IN,
    "teams.services.sessions.session_touch": SIGN_IN,
    "teams.services.sessions.session_rekey": SIGN_IN,
    "teams.services.sessions.session_expire": SIGN_IN,
    "teams.services.sessions.tracked_sessions_delete": STEP,
    "teams.services.sessions.user_sessions_delete": STEP,
    "teams.services.sessions.sessions_expire": SYSTEM_JOB,
    "teams.services.roles.role_create": TENANT_SETTING,
    "teams.services.roles.role_update": TENANT_SETTING,
    "teams.services.roles.role_delete": TENANT_SETTING,
    "teams.services.roles.tenant_policy_update": TENANT_SETTING,
    "teams.services.remembered_browsers.token_hash": STEP,
    "teams.services.remembered_browsers.remembered_browser_token": SIGN_IN,
    "teams.services.remembered_browsers.remembered_browser_add": SIGN_IN,
    "teams.services.remembered_browsers.remembered_browser_use": SIGN_IN,
    "teams.services.remembered_browsers.remembered_browsers_forget": STEP,
    "teams.services.remembered_browsers.remembered_browser_cookie_set": SIGN_IN,
    "teams.services.remembered_browsers.remembered_browser_cookie_delete": SIGN_IN,
    "teams.services.inactivity.stale_accounts_deactivate": SYSTEM_JOB,
    "teams.services.inactivity.inactivity_warnings_send": SYSTEM_JOB,
    "teams.services.inactivity.inactivity_policy_apply": SYSTEM_JOB,
    "accounts.services.password_reset_request": SELF_ONLY + ": anyone asks, a task decides",
    "accounts.services.password_reset_request_process": SYSTEM_JOB,
    "accounts.services.password_reset_requests_due_ids": SYSTEM_JOB,
    "accounts.services.password_reset_requests_prune": SYSTEM_JOB,
    "accounts.services.password_set_from_link": SELF_ONLY,
    "accounts.services.password_link_refusal_record": SELF_ONLY,
    "accounts.services.password_change": SELF_ONLY,
    "accounts.services.password_change_at_sign_in": SELF_ONLY,
    "mfa.services.second_factor_proved": SIGN_IN,
    "mfa.services.second_step_verify": SIGN_IN,
    "mfa.services.totp_device_setup_start": SELF_ONLY,
    "mfa.services.totp_device_confirm": SELF_ONLY,
    "mfa.services.totp_device_remove": SELF_ONLY,
    "mfa.services.backup_codes_regenerate": SELF_ONLY,
    "mfa.services.factors_added_since_remove": SELF_ONLY + ': "this wasn\'t me" from their mail',
    "mfa.services.factor_proof_verify": SELF_ONLY + ": the proof page checks one's own factor",
    "mfa.services.other_sessions_end": SELF_ONLY + ": after changing one's own factors",
    "mfa.passkeys.services.passkey_proof_verify": SELF_ONLY + ": the proof page's passkey",
    "mfa.services.remembered_browser_proof": SIGN_IN,
    "mfa.passkeys.services.passkey_registration_begin": SELF_ONLY,
    "mfa.passkeys.services.passkey_register": SELF_ONLY,
    "mfa.passkeys.services.passkey_rename": SELF_ONLY,
    "mfa.passkeys.services.passkey_remove": SELF_ONLY,
    "mfa.passkeys.services.passkey_second_step_begin": SIGN_IN,
    "mfa.passkeys.services.passkey_second_step_verify": SIGN_IN,
    "mfa.passkeys.services.passkey_sign_in_begin": SIGN_IN,
    "mfa.passkeys.services.passkey_sign_in": SIGN_IN,
    "support.services.recovery_request_submit": NO_PERSON + ": anyone asks, a task decides",
    "support.services.recovery_attempt_process": SYSTEM_JOB,
    "support.services.recovery_attempts_due_ids": SYSTEM_JOB,
    "support.services.recovery_requests_expire": SYSTEM_JOB,
    "reviews.services.access_review_complete": TENANT_SETTING,
    "reviews.services.access_review_summaries_send": SYSTEM_JOB,
    "sso.services.provider_refusal_check": TENANT_SETTING,
    "sso.services.provider_save": TENANT_SETTING,
    "sso.services.provider_remove": TENANT_SETTING,
    "sso.services.domain_claim": TENANT_SETTING + " (operators only)",
    "sso.services.domain_release": TENANT_SETTING + " (operators only)",
    "sso.services.claimed_domain_save": TENANT_SETTING
    + ": the claim row, written inside domain_claim or a DNS verification, which guard it",
    "sso.services.sign_in_through_provider_fail": SIGN_IN,
    "sso.services.sign_in_through_provider": SIGN_IN,
    "sso.services.provider_secrets_reencrypt": SYSTEM_JOB,
    "sso.services.provider_logout": (
        "the tenant's identity provider acting, by its signed logout token: no person acts, "
        "and it ends only sessions it signed in within its tenant"
    ),
    "sso.services.logout_token_refuse": NO_PERSON + ": records a refused logout token",
    "sso.services.logout_refusals_exceeded": NO_PERSON + ": a rate limit's count",
    "provisioning.services.tokens.token_digest": STEP,
    "provisioning.services.tokens.token_create": TENANT_SETTING,
    "provisioning.services.tokens.token_revoke": TENANT_SETTING,
    "provisioning.services.tokens.token_use": NO_PERSON + ": notes a token's use",
    "provisioning.services.tokens.provisioning_refusal_record": NO_PERSON + ": records a refusal",
    "provisioning.services.tokens.rate_limit_reached": NO_PERSON + ": counts a token's requests",
    "provisioning.services.settings.provisioning_settings_for": NO_PERSON
    + ": reads a tenant's settings",
    "provisioning.services.settings.provisioning_settings_save": TENANT_SETTING,
    "provisioning.services.people.provisioning_actor": NO_PERSON + ": builds the directory's actor",
    "provisioning.services.groups.role_from_groups": NO_PERSON + ": reads a person's mapped groups",
    "provisioning.services.people.directory_person_create": NO_PERSON
    + ": makes one (person_create)",
    # These change people's roles only through person_role_change (walked above), for each
    # member whose groups now give another role; refusals are recorded, not raised.
    "provisioning.services.groups.roles_follow_groups": STEP,
    "provisioning.services.groups.group_role_set": TENANT_SETTING,
    "provisioning.services.groups.directory_group_create": TENANT_SETTING,
    "provisioning.services.groups.directory_group_update": TENANT_SETTING,
    "provisioning.services.groups.directory_group_delete": TENANT_SETTING,
}

MODULES = (
    "teams.services.people",
    "teams.services.sessions",
    "teams.services.roles",
    "teams.services.remembered_browsers",
    "teams.services.inactivity",
    "accounts.services",
    "mfa.services",
    "mfa.passkeys.services",
    "support.services",
    "reviews.services",
    "sso.services",
    "provisioning.services.tokens",
    "provisioning.services.settings",
    "provisioning.services.people",
    "provisioning.services.groups",
)


def public_functions(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {
        f"{module_name}.{name}"
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module_name
    }


def test_every_service_is_walked_or_excused():
    found = set().union(*(public_functions(name) for name in MODULES))
    walked = {name.split(":")[0] for name in GUARDED}

    assert found - walked - set(NOT_ACTING_ON_ANOTHER) == set()
    assert (walked | set(NOT_ACTING_ON_ANOTHER)) - found == set()


@pytest.fixture
def person(tenant, technician):
    """Someone with something of everything a service could take away."""
    UserSessionFactory(user=technician)
    TOTPDeviceFactory(user=technician)
    ProviderIdentity.objects.create(
        tenant=tenant,
        user=technician,
        issuer="https://idp.example",
        subject=f"subject-{technician.pk}",
        email_at_link=technician.email,
    )
    return technician


def state(person: User) -> tuple:
    """Everything about `person` a walked service could change."""
    person = User.objects.get(pk=person.pk)
    return (
        person.email,
        person.full_name,
        person.role_id,
        person.is_active,
        person.password,
        person.password_change_required,
        UserSession.objects.filter(user=person).count(),
        sorted(device.persistent_id for device in devices_for_user(person, confirmed=None)),
        ProviderIdentity.objects.filter(user=person).count(),
        lockout_counters.lock_for(email=person.email, ip=None) is not None,
        OutboxMail.objects.filter(to=person.email).count(),
        AuditEvent.objects.filter(target=person).count(),
        RecoveryRequest.objects.filter(person=person).exclude(status="open").count(),
    )


def refused(door: Door, actor: User, person: User) -> str | None:
    """Run the door; the refusal's code (None for a bulk door, which reports it instead)."""
    door.prepare(person)
    before = state(person)
    if door.bulk:
        door.call(actor, person)
        code = None
    else:
        with pytest.raises((ValidationError, PermissionDenied)) as refusal:
            door.call(actor, person)
        code = refusal.value.code
    assert state(person) == before
    return code


@pytest.fixture
def security_admin(tenant):
    """Everything an Owner holds but `roles:write`: every walked service's scope, and still
    below an Owner."""
    role = Role.objects.create(
        tenant=tenant,
        name="Security admin",
        scopes=sorted(scopes.ALL_SCOPES - {scopes.ROLES_WRITE}),
        require_mfa=False,
    )
    return UserFactory(tenant=tenant, role=role)


@pytest.mark.parametrize("door", GUARDED.values(), ids=GUARDED.keys())
def test_an_actor_without_the_scope_is_refused(door, tenant, person):
    read_only = UserFactory(tenant=tenant, builtin=scopes.READ_ONLY)

    assert refused(door, read_only, person) in {"scope_missing", None}


@pytest.mark.parametrize("door", GUARDED.values(), ids=GUARDED.keys())
def test_an_actor_from_another_tenant_is_refused(door, other_owner, person):
    assert refused(door, other_owner, person) in {"other_tenant", None}


@pytest.mark.parametrize("door", GUARDED.values(), ids=GUARDED.keys())
def test_an_actor_below_the_person_is_refused(door, security_admin, owner, person):
    UserSessionFactory(user=owner)
    ProviderIdentity.objects.create(
        tenant=owner.tenant,
        user=owner,
        issuer="https://idp.example",
        subject="owner",
        email_at_link=owner.email,
    )

    assert refused(door, security_admin, owner) in {"above_you", None}


@pytest.mark.parametrize("door", GUARDED.values(), ids=GUARDED.keys())
def test_a_deactivated_operator_is_refused(door, person):
    deactivated = OperatorFactory(is_active=False)

    assert refused(door, deactivated, person) in {"inactive", None}


def test_the_guard_refuses_a_missing_actor(person):
    with pytest.raises(TypeError):
        act_on(actor=None, person=person, scope=scopes.SESSIONS_REVOKE)


def test_acting_on_oneself_needs_no_scope_only_where_the_service_says_so(tenant):
    technician = UserFactory(tenant=tenant)
    UserSessionFactory(user=technician)

    assert user_sessions_end(user=technician, actor=technician, reason="own") == 1
    with pytest.raises(ActingRefused) as refusal:
        person_password_change_require(person=technician, actor=technician)
    assert refusal.value.code == "scope_missing"


def test_an_operator_acts_on_any_tenant_and_only_operators_on_operators(owner, technician):
    operator, other_operator = OperatorFactory(), OperatorFactory()

    assert person_password_change_require(person=technician, actor=operator) is True
    with pytest.raises(ActingRefused) as refusal:
        person_password_change_require(person=other_operator, actor=owner)
    assert refusal.value.code == "operator"
    with pytest.raises(OtherTenantRefused):
        person_password_change_require(person=owner, actor=UserFactory(builtin=scopes.OWNER))


PEOPLE = "/admin/accounts/user/"


@pytest.mark.parametrize("action", ["deactivate", "revoke_sessions", "unlock", "send_reset_link"])
def test_the_admin_records_each_refusal_and_changes_nothing(action, security_admin, owner):
    UserSessionFactory(user=owner)
    before = state(owner)
    client = sign_in(Client(), security_admin)

    client.post(PEOPLE, {"action": action, "index": 0, helpers.ACTION_CHECKBOX_NAME: [owner.pk]})

    assert state(owner) == before
    refusal = AuditEvent.objects.get(event=AuditEventType.ADMIN_ACTION_REFUSED)
    assert refusal.details["code"] == "above_you" and refusal.details["id"] == str(owner.pk)
