"""Roles and the tenant's security policy."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from audit.services import (
    audit_event_record,
)
from teams import scopes
from teams.models import Role, Tenant
from teams.rules import (
    act_within,
    refuse_above,
    refuse_granting_more,
    refuse_role_losing_last_owners,
)
from teams.services import access_list
from teams.services.common import model_update

ROLE_FIELDS = (
    "name",
    "scopes",
    "require_mfa",
    "require_phishing_resistant",
    "idle_timeout_minutes",
    "session_lifetime_minutes",
    "max_sessions",
)
BUILTIN_ROLE_FIXED_FIELDS = ("name", "scopes")


def _role_values(role: Role) -> dict[str, Any]:
    return {name: getattr(role, name) for name in ROLE_FIELDS}


def role_create(
    *,
    tenant: Tenant,
    actor: User,
    values: dict[str, Any],
    request: HttpRequest | None = None,
) -> Role:
    """Make a custom role from the catalogue; the creator must hold every scope it grants."""
    act_within(actor=actor, tenant=tenant, scope=scopes.ROLES_WRITE)
    values = {**values, "scopes": sorted(set(values.get("scopes", [])))}
    refuse_granting_more(actor=actor, granted=values["scopes"])
    role = Role(tenant=tenant, **values)
    role.full_clean()
    with transaction.atomic():
        role.save()
        audit_event_record(
            event=AuditEventType.ROLE_CREATED,
            actor=actor,
            tenant=tenant,
            request=request,
            details=_role_values(role),
        )
    return role


def role_update(
    *,
    role: Role,
    actor: User,
    values: dict[str, Any],
    request: HttpRequest | None = None,
) -> Role:
    """Edit a role. Built-in roles keep their name and scopes; their limits can change.

    The editor must hold every scope the role holds now ("nobody edits a role above their own")
    and every scope it will hold. People holding the role feel the change on their next request.
    """
    act_within(actor=actor, tenant=role.tenant, scope=scopes.ROLES_WRITE)
    refuse_above(actor=actor, role=role, what="this role")
    unknown = set(values) - set(ROLE_FIELDS)
    if unknown:
        raise ValidationError(
            _("Not a role setting: %(names)s."), code="unknown_setting", params={"names": unknown}
        )
    if "scopes" in values:
        values = {**values, "scopes": sorted(set(values["scopes"]))}
        refuse_granting_more(actor=actor, granted=values["scopes"])
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        fixed = [name for name in BUILTIN_ROLE_FIXED_FIELDS if name in values]
        if role.is_builtin and any(getattr(role, name) != values[name] for name in fixed):
            raise ValidationError(
                _("Built-in roles keep their name and scopes; make a custom role instead."),
                code="builtin_role",
            )
        if "scopes" in values:
            refuse_role_losing_last_owners(role=role, scope_keys=values["scopes"])
        changed = model_update(instance=role, values=values)
        if not changed:
            return role
        relaxed = changed.get("require_mfa") == [True, False]
        audit_event_record(
            # Relaxing MFA gets an event type of its own, so the trail can be filtered for it.
            event=AuditEventType.MFA_REQUIREMENT_RELAXED if relaxed else AuditEventType.ROLE_EDITED,
            actor=actor,
            tenant=role.tenant,
            request=request,
            details={"role": role.name, "changed": changed},
        )
        if "scopes" in changed:
            access_list.access_list_exempt_owner_ensure(tenant=role.tenant)
    return role


def role_delete(*, role: Role, actor: User, request: HttpRequest | None = None) -> None:
    act_within(actor=actor, tenant=role.tenant, scope=scopes.ROLES_WRITE)
    refuse_above(actor=actor, role=role, what="this role")
    if role.is_builtin:
        raise ValidationError(_("Built-in roles can't be deleted."), code="builtin_role")
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        holders = role.people.count()
        if holders:
            raise ValidationError(
                _("%(count)s people hold the role %(role)s; give them another role first."),
                code="role_in_use",
                params={"count": holders, "role": role.name},
            )
        name = role.name
        role.delete()
        audit_event_record(
            event=AuditEventType.ROLE_DELETED,
            actor=actor,
            tenant=role.tenant,
            request=request,
            details={"role": name},
        )


TENANT_POLICY_FIELDS = (
    "require_mfa",
    "passwordless_sign_in",
    "password_max_age_days",
    "password_history_count",
    "breached_password_check_at_sign_in",
    "remember_browser_days",
    "idle_timeout_minutes",
    "session_lifetime_minutes",
    "max_sessions",
    "deactivate_after_days",
    "audit_retention_months",
    "alert_owners_on_unusual_sign_in",
)


def tenant_policy_update(
    *,
    tenant: Tenant,
    actor: User,
    values: dict[str, Any],
    request: HttpRequest | None = None,
) -> Tenant:
    """Change a tenant's security policy; one event listing every setting that changed."""
    act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    unknown = set(values) - set(TENANT_POLICY_FIELDS) - {"name"}
    if unknown:
        raise ValidationError(
            _("Not a policy setting: %(names)s."), code="unknown_setting", params={"names": unknown}
        )
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = model_update(instance=tenant, values=values)
        if not changed:
            return tenant
        audit_event_record(
            event=AuditEventType.TENANT_POLICY_CHANGED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"changed": changed},
        )
    return tenant
