"""The IP access list: its entries and exceptions, its switch, its exempt Owner, and what
happens to a sign-in or a session from an address outside it.

The decision itself is one selector, `teams.selectors.access_list_allows`; everything here
writes, and audits what it wrote as `ACCESS_LIST_CHANGED` (or a refusal) in the same
transaction. Every change an Owner makes obeys the self-lockout guard here, not in a form: one
that would shut their own current address out is refused until they confirm it.
"""

from collections.abc import Callable, Iterable

from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.models import (
    ACCESS_LIST_MAX_ENTRIES,
    AccessListEntry,
    AccessListException,
    Role,
    Tenant,
    UserSession,
    is_operator,
)
from teams.rules import refuse_other_tenant
from teams.selectors import access_list_allows


class _Undo(Exception):
    """Raised to roll back a change that was only tried."""


def access_list_change_excludes(
    *, actor: User, ip: str | None, change: Callable[[], object]
) -> bool:
    """Whether `change` would leave `actor`'s own current address outside their tenant's list.

    The change is made in a transaction that is always rolled back, and the one selector is
    asked about the result, so the guard can never disagree with what enforcement will do.
    The exempt-Owner rule is left out: the question is about the address, and the exemption
    may move to someone else later.
    """
    if actor.tenant_id is None:
        return False
    outcome: list[bool] = []
    try:
        with transaction.atomic():
            change()
            fresh = User.objects.select_related("tenant", "role").get(pk=actor.pk)
            outcome.append(access_list_allows(user=fresh, ip=ip, exempt_owner_counts=False))
            raise _Undo
    except _Undo:
        pass
    return not outcome[0]


EXCLUDES_ACTOR_MESSAGE = _(
    "After this change your current address (%(ip)s) is outside the IP access list: you would "
    "be signed out at once and could not sign in from here. Tick the box to save it anyway, or "
    "add a range holding %(ip)s first."
)
EXCLUDES_EXEMPT_OWNER_MESSAGE = _(
    "After this change your current address (%(ip)s) is outside the IP access list. You stay "
    "signed in only because you are the Owner exempt from the list; if the exemption passes to "
    "another Owner (when you stop being an active Owner), you would be signed out and could not "
    "sign in from here. Tick the box to save it anyway, or add a range holding %(ip)s first."
)


def access_list_exempts(*, actor: User) -> bool:
    """Whether the list lets `actor` in from anywhere: they are their tenant's exempt Owner, or
    the Owner a save of theirs makes exempt (`access_list_exempt_owner_ensure` prefers the
    saving Owner while no active Owner holds the exemption)."""
    if actor.tenant_id is None:
        return False
    fresh = User.objects.select_related("tenant__access_list_exempt_owner__role", "role").get(
        pk=actor.pk
    )
    if not (fresh.is_active and fresh.role is not None and fresh.role.is_owner):
        return False
    exempt = fresh.tenant.access_list_exempt_owner
    if exempt is None or exempt.pk == fresh.pk:
        return True
    return not (exempt.is_active and exempt.role is not None and exempt.role.is_owner)


def excludes_actor_message(*, actor: User) -> str:
    """What the self-lockout guard says: the exempt Owner is not signed out by the change, and
    is told so rather than warned of what won't happen."""
    return (
        EXCLUDES_EXEMPT_OWNER_MESSAGE
        if access_list_exempts(actor=actor)
        else (EXCLUDES_ACTOR_MESSAGE)
    )


def _refuse_shutting_actor_out(
    *, actor: User | None, request: HttpRequest | None, confirmed: bool
) -> None:
    """Refuse, unless `confirmed`, a change that leaves the acting person's own address outside
    their tenant's list. Called inside the change's transaction, after the change, so raising
    undoes it.

    Every change an Owner makes goes through here, whatever page or script calls the service
    (the admin asks beforehand too, with `access_list_change_excludes`, to show its box). An
    actor whose address can't be read (no request) is outside every range, so such a caller
    has to confirm. Changes made by nobody (`actor=None`: the system, operators' commands) and
    by operators, whom no list holds, are not asked.
    """
    if actor is None or confirmed or actor.tenant_id is None:
        return
    ip = client_ip(request) if request is not None else None
    fresh = User.objects.select_related("tenant", "role").get(pk=actor.pk)
    if not access_list_allows(user=fresh, ip=ip, exempt_owner_counts=False):
        raise ValidationError(
            excludes_actor_message(actor=actor),
            code="excludes_you",
            params={"ip": ip or _("unknown")},
        )


def _owner_candidates(tenant: Tenant) -> list[User]:
    owner_roles = Role.objects.for_tenant(tenant).owner()
    return list(
        User.objects.for_tenant(tenant)
        .filter(is_active=True, role__in=owner_roles)
        .order_by("date_joined", "pk")
    )


def access_list_exempt_owner_ensure(*, tenant: Tenant, preferred: User | None = None) -> None:
    """Keep one active Owner exempt from the list, so no save can lock the whole tenant out.

    The exempt Owner stays while they remain an active Owner; otherwise `preferred` (the Owner
    saving the list) takes their place, or else the longest-standing active Owner. Called by
    every list change and by the people and role changes that can end someone's Ownership.
    """
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        owners = _owner_candidates(tenant)
        ids = [owner.pk for owner in owners]
        if tenant.access_list_exempt_owner_id in ids:
            return
        if preferred is not None and preferred.pk in ids:
            chosen = preferred.pk
        else:
            chosen = ids[0] if ids else None
        if chosen != tenant.access_list_exempt_owner_id:
            Tenant.objects.filter(pk=tenant.pk).update(access_list_exempt_owner_id=chosen)


def _changed(
    *,
    tenant: Tenant,
    actor: User | None,
    request: HttpRequest | None,
    details: dict,
) -> None:
    audit_event_record(
        event=AuditEventType.ACCESS_LIST_CHANGED,
        actor=actor,
        tenant=tenant,
        request=request,
        details=details,
    )
    access_list_exempt_owner_ensure(tenant=tenant, preferred=actor)


def _acting_within(*, actor: User | None, tenant: Tenant) -> None:
    if actor is not None:
        refuse_other_tenant(actor=actor, tenant=tenant)


def _roles_checked(tenant: Tenant, roles: Iterable[Role]) -> list[Role]:
    roles = list(roles)
    if any(role.tenant_id != tenant.pk for role in roles):
        raise ValidationError({"roles": "Choose roles of this tenant."}, code="foreign_role")
    return roles


def access_list_entry_save(
    *,
    entry: AccessListEntry,
    roles: Iterable[Role],
    actor: User | None,
    request: HttpRequest | None = None,
    confirm_exclusion: bool = False,
) -> AccessListEntry:
    """Add or change one entry (its range already validated and normalised by `clean()`).

    Refused (`excludes_you`) when it would shut the actor's own address out, unless they
    confirm that they mean it."""
    tenant = entry.tenant
    _acting_within(actor=actor, tenant=tenant)
    roles = _roles_checked(tenant, roles)
    adding = entry.pk is None
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if adding and AccessListEntry.objects.for_tenant(tenant).count() >= ACCESS_LIST_MAX_ENTRIES:
            raise ValidationError(
                _(
                    "The IP access list holds at most %(limit)s ranges. Remove some, or join "
                    "neighbouring ranges into a wider one."
                ),
                code="too_many_entries",
                params={"limit": ACCESS_LIST_MAX_ENTRIES},
            )
        entry.full_clean(exclude=["tenant", "roles"], validate_unique=True)
        entry.save()
        entry.roles.set(roles)
        _refuse_shutting_actor_out(actor=actor, request=request, confirmed=confirm_exclusion)
        _changed(
            tenant=tenant,
            actor=actor,
            request=request,
            details={
                "action": "entry added" if adding else "entry changed",
                "range": entry.network,
                "label": entry.label,
                "roles": sorted(role.name for role in roles) or ["everybody"],
            },
        )
    return entry


def access_list_entry_delete(
    *,
    entry: AccessListEntry,
    actor: User | None,
    request: HttpRequest | None = None,
    confirm_exclusion: bool = False,
) -> None:
    _acting_within(actor=actor, tenant=entry.tenant)
    with transaction.atomic():
        details = {"action": "entry removed", "range": entry.network, "label": entry.label}
        # Through the queryset: a refused removal rolls back and leaves `entry` as it was.
        AccessListEntry.objects.filter(pk=entry.pk).delete()
        _refuse_shutting_actor_out(actor=actor, request=request, confirmed=confirm_exclusion)
        _changed(tenant=entry.tenant, actor=actor, request=request, details=details)


def access_list_switch(
    *,
    tenant: Tenant,
    enabled: bool,
    actor: User | None,
    request: HttpRequest | None = None,
    confirm_exclusion: bool = False,
) -> Tenant:
    """Turn enforcement of the tenant's list on or off. Switching it on from outside it is
    refused (`excludes_you`) unless the actor confirms."""
    _acting_within(actor=actor, tenant=tenant)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.access_list_enabled == enabled:
            return tenant
        tenant.access_list_enabled = enabled
        tenant.save(update_fields=["access_list_enabled"])
        _refuse_shutting_actor_out(actor=actor, request=request, confirmed=confirm_exclusion)
        _changed(
            tenant=tenant,
            actor=actor,
            request=request,
            details={"action": "switched on" if enabled else "switched off"},
        )
    tenant.refresh_from_db()
    return tenant


def access_list_exception_save(
    *,
    exception: AccessListException,
    actor: User | None,
    request: HttpRequest | None = None,
    confirm_exclusion: bool = False,
) -> AccessListException:
    """Grant or change a person's exception. It must end in the future, within a year.

    Granting one lets someone in, so only a change (shortening one's own, handing it to
    someone else) is refused when it shuts the actor out unconfirmed."""
    _acting_within(actor=actor, tenant=exception.tenant)
    exception.full_clean(exclude=["tenant"])
    adding = exception.pk is None
    with transaction.atomic():
        exception.save()
        if not adding:
            _refuse_shutting_actor_out(actor=actor, request=request, confirmed=confirm_exclusion)
        _changed(
            tenant=exception.tenant,
            actor=actor,
            request=request,
            details={
                "action": "exception granted" if adding else "exception changed",
                "person": exception.user.email,
                "until": exception.expires_at.isoformat(),
            },
        )
    return exception


def access_list_exception_delete(
    *,
    exception: AccessListException,
    actor: User | None,
    request: HttpRequest | None = None,
    confirm_exclusion: bool = False,
) -> None:
    _acting_within(actor=actor, tenant=exception.tenant)
    with transaction.atomic():
        details = {"action": "exception removed", "person": exception.user.email}
        AccessListException.objects.filter(pk=exception.pk).delete()
        _refuse_shutting_actor_out(actor=actor, request=request, confirmed=confirm_exclusion)
        _changed(tenant=exception.tenant, actor=actor, request=request, details=details)


def access_list_clear(*, tenant: Tenant, actor: User, run_by: str) -> int:
    """The operators' way back in for a tenant: switch the list off and remove every entry and
    exception. Returns how many entries were removed.

    Only an active operator (`teams.models.is_operator`) clears a list, and is named as the
    event's actor; `run_by` is the operating-system account the command ran under, kept beside
    it, since the name typed on the command line is only what the person at the shell claims.
    """
    if not is_operator(actor):
        raise ValidationError(
            _("Only an active operator clears a tenant's IP access list."), code="not_operator"
        )
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        entries = AccessListEntry.objects.for_tenant(tenant).count()
        exceptions = AccessListException.objects.for_tenant(tenant).count()
        AccessListEntry.objects.for_tenant(tenant).delete()
        AccessListException.objects.for_tenant(tenant).delete()
        Tenant.objects.filter(pk=tenant.pk).update(access_list_enabled=False)
        _changed(
            tenant=tenant,
            actor=actor,
            request=None,
            details={
                "action": "cleared by an operator",
                "entries": entries,
                "exceptions": exceptions,
                "run_by": run_by,
            },
        )
    return entries


def access_list_sign_in_refuse(*, request: HttpRequest, user: User) -> None:
    """Audit a sign-in whose password was right but whose address the tenant's list refuses.

    Not a failed sign-in: nothing is counted toward a lock, since the person proved the
    password; the event names the address so owners can see where it came from."""
    audit_event_record(
        event=AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST,
        actor=None,
        tenant=user.tenant,
        target=user,
        request=request,
        details={"ip": client_ip(request)},
    )


def access_list_session_end(*, request: HttpRequest) -> None:
    """End the signed-in session of this request, whose address the tenant's list now refuses:
    its tracking row and the Django session go, and it is audited once."""
    user = request.user
    with transaction.atomic():
        UserSession.objects.filter(session_key=request.session.session_key).delete()
        audit_event_record(
            event=AuditEventType.SESSION_ENDED_BY_ACCESS_LIST,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"ip": client_ip(request)},
        )
        logout(request)
