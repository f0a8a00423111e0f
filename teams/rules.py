"""The rules every change to people and roles obeys, checked by forms and again by services.

Each raises a ValidationError saying what is refused and why. `act_on` is the one guard every
service that changes or ends a person, their role, sessions, factors or links opens with.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from teams import scopes
from teams.models import Role, Tenant, is_operator
from teams.selectors import owners_for_tenant, user_scopes


class OtherTenantRefused(ValidationError, PermissionDenied):
    """A service's one refusal to act on another tenant's row (code "other_tenant").

    A ValidationError, so forms and the admin show it as they show any refused change; and a
    PermissionDenied, so callers that catch refusals of a right catch it and a view that lets it
    through answers 403. Views never get that far with another tenant's row: `teams.access`
    turns it into the same 404 as a missing one before any service runs.
    """


class ActingRefused(ValidationError, PermissionDenied):
    """`act_on` refusing for any reason but another tenant: its code says which ("inactive",
    "scope_missing", "operator", "above_you"). Both kinds of refusal, for the same reasons as
    `OtherTenantRefused`."""


def refuse_other_tenant(*, actor: User, tenant: Tenant | None) -> None:
    """Only operators (active superusers) act across tenants; everybody else within their own."""
    if not is_operator(actor) and actor.tenant_id != (tenant.pk if tenant else None):
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
        raise ActingRefused(
            _("You can't change %(what)s: the role %(role)s holds scopes you don't."),
            code="above_you",
            params={"what": what, "role": role.name},
        )


def _refuse_actor(*, actor: User, scope: str | Iterable[str]) -> None:
    if actor is None:
        # Nobody stands behind None: the system's own jobs use services of their own.
        raise TypeError("An actor is required; the system does not act through this service.")
    if not actor.is_active:
        raise ActingRefused(_("A deactivated account acts on nobody."), code="inactive")
    needed = frozenset({scope}) if isinstance(scope, str) else frozenset(scope)
    if not needed & user_scopes(user=actor):
        raise ActingRefused(
            _("This needs the scope %(scopes)s."),
            code="scope_missing",
            params={"scopes": " or ".join(sorted(needed))},
        )


def act_within(*, actor: User, tenant: Tenant | None, scope: str | Iterable[str]) -> None:
    """The part of `act_on` about the actor alone: an active person, holding `scope` (or one
    of a set of scopes), in `tenant` unless they are an operator. Role and policy services,
    which act on a tenant's settings rather than on one person, open with this."""
    _refuse_actor(actor=actor, scope=scope)
    refuse_other_tenant(actor=actor, tenant=tenant)


def act_on(*, actor: User, person: User, scope: str | Iterable[str], oneself: bool = False) -> None:
    """The one guard before anyone acts on a person, whatever path reached the service (the
    admin, a page, a recovery request, an access review, a command).

    Refused, in this order: a deactivated actor (a deactivated operator too); an actor holding
    none of `scope`; an operator, unless the actor is one; another tenant's person, unless the
    actor is an operator (`OtherTenantRefused`); a person whose role is above the actor's
    (`is_above`). Every refusal but the tenant's is an `ActingRefused`, its reason as its code.

    `oneself=True` is for what a person may do to themselves without the scope (end their own
    sessions): an actor acting on themselves then passes. Everywhere else acting on oneself
    needs the scope like acting on anyone, and a service that refuses it outright (deactivating
    oneself) says so after this check.

    There is no system actor: `None` is refused. Jobs of the system (idle sessions, stale
    accounts, inactivity) choose their rows by policy through bulk services of their own, and
    operators act as their own accounts.
    """
    if oneself and actor is not None and actor.pk == person.pk:
        return
    _refuse_actor(actor=actor, scope=scope)
    if person.is_superuser and not is_operator(actor):
        raise ActingRefused(_("Only operators manage operators."), code="operator")
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    refuse_above(actor=actor, role=person.role, what=person.email)


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
