"""The rules every change to people and roles obeys, checked by forms and again by services.

Each raises a ValidationError saying what is refused and why.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from teams import scopes
from teams.models import Role, Tenant
from teams.selectors import owners_for_tenant, user_scopes


class OtherTenantRefused(ValidationError, PermissionDenied):
    """A service's one refusal to act on another tenant's row (code "other_tenant").

    A ValidationError, so forms and the admin show it as they show any refused change; and a
    PermissionDenied, so callers that catch refusals of a right catch it and a view that lets it
    through answers 403. Views never get that far with another tenant's row: `teams.access`
    turns it into the same 404 as a missing one before any service runs.
    """


def refuse_other_tenant(*, actor: User, tenant: Tenant | None) -> None:
    """Only operators act across tenants; everybody else acts within their own."""
    if not actor.is_superuser and actor.tenant_id != (tenant.pk if tenant else None):
        raise OtherTenantRefused("That belongs to another tenant.", code="other_tenant")


def refuse_granting_more(*, actor: User, granted: Iterable[str]) -> None:
    """Nobody grants a scope they don't hold themselves."""
    lacking = sorted(set(granted) - user_scopes(user=actor))
    if lacking:
        raise ValidationError(
            _("You can't grant scopes you don't hold yourself: %(scopes)s."),
            code="scope_not_held",
            params={"scopes": ", ".join(lacking)},
        )


def is_above(*, actor: User, role: Role | None) -> bool:
    """A role is "above" a person when it holds a scope they lack."""
    return role is not None and not role.scope_set <= user_scopes(user=actor)


def refuse_above(*, actor: User, role: Role | None, what: str) -> None:
    """Nobody manages a role, or a person holding one, above their own."""
    if is_above(actor=actor, role=role):
        raise ValidationError(
            _("You can't change %(what)s: the role %(role)s holds scopes you don't."),
            code="above_you",
            params={"what": what, "role": role.name},
        )


def refuse_acting_on(*, actor: User, person: User, what: str) -> None:
    """The one check before anyone acts on a person: same tenant, an operator only by an
    operator, and nobody whose role is above the actor's.

    Every service that acts on someone else (deactivate, reactivate, role or detail change, MFA
    reset, ending sessions, unlock, reset link, requiring a new password) calls this, whatever
    path reached it: the admin, a page, a recovery request, a command.
    """
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    if person.is_superuser and not actor.is_superuser:
        raise ValidationError(_("Only operators manage operators."), code="operator")
    refuse_above(actor=actor, role=person.role, what=what)


def refuse_removing_last_owner(*, person: User) -> None:
    """A tenant always keeps one active Owner, or nobody could manage it any more.

    The tenant row is locked first, so two owners demoting each other at the same moment are
    decided one after the other and the second one is refused.
    """
    if person.tenant_id is None or not person.is_active:
        return
    if not (person.role and person.role.is_owner):
        return
    tenant = Tenant.objects.select_for_update().get(pk=person.tenant_id)
    if not owners_for_tenant(tenant=tenant).exclude(pk=person.pk).exists():
        raise ValidationError(
            _("%(person)s is the last Owner of %(tenant)s; make someone else an Owner first."),
            code="last_owner",
            params={"person": person.email, "tenant": tenant.name},
        )


def refuse_role_losing_last_owners(*, role: Role, scope_keys: Iterable[str]) -> None:
    """A role that makes Owners keeps `security:write` while its holders are the tenant's only
    active Owners, for the same reason as `refuse_removing_last_owner`."""
    if not role.is_owner or scopes.SECURITY_WRITE in scope_keys:
        return
    tenant = Tenant.objects.select_for_update().get(pk=role.tenant_id)
    owners = owners_for_tenant(tenant=tenant)
    if owners.exists() and not owners.exclude(role=role).exists():
        raise ValidationError(
            _(
                "The role %(role)s holds the last Owners of %(tenant)s; make someone else an Owner "
                "first."
            ),
            code="last_owner",
            params={"role": role.name, "tenant": tenant.name},
        )
