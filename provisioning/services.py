"""Provisioning's writes: tokens, settings, group mappings, and what the directory does to people.

People are changed only through teams' people services (`person_create`, `person_update`,
`person_role_change`, `person_deactivate`, `person_reactivate`), each opening with
`teams.rules.act_on`; the directory is their actor, a `teams.actors.ServiceActor` labelled
"provisioning: <token name>". It holds every scope but `security:write` unless the tenant lets
it manage Owners, so the guard itself refuses it an Owner: it can neither give an Owner's role
(`refuse_granting_more`) nor change an Owner (`refuse_above`), and no path removes the last
active Owner (`refuse_removing_last_owner`).
"""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User, normalize_email
from audit.events import AuditEventType
from audit.services import audit_event_record
from provisioning.models import (
    DirectoryGroup,
    DirectoryPerson,
    ProvisioningSettings,
    ProvisioningToken,
)
from sso.models import ProviderIdentity
from teams import scopes
from teams.actors import ServiceActor
from teams.models import Role, Tenant
from teams.rules import act_on, act_within, refuse_granting_more
from teams.selectors import least_privileged_role
from teams.services.people import (
    invitation_enqueue,
    person_create,
    person_deactivate,
    person_reactivate,
    person_role_change,
    person_update,
)

TOKEN_PREFIX = "pcs_"  # noqa: S105 - the tokens' visible prefix, not a secret
TOKEN_LIFETIME = timedelta(days=365)
# "Used" is recorded at most once a minute per token: a directory's sync makes hundreds of
# requests, and the trail needs to show that it ran, not each request.
USED_EVENT_INTERVAL = timedelta(minutes=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def provisioning_settings_for(*, tenant: Tenant) -> ProvisioningSettings:
    """The tenant's settings, or the defaults (nothing mailed, no Owners) when never saved."""
    found = ProvisioningSettings.objects.filter(tenant=tenant).first()
    return found or ProvisioningSettings(tenant=tenant)


def provisioning_actor(*, token: ProvisioningToken) -> ServiceActor:
    """The actor a token's requests act as (see the module's docstring for its scopes)."""
    held = scopes.ALL_SCOPES
    if not provisioning_settings_for(tenant=token.tenant).manage_owners:
        held = held - {scopes.SECURITY_WRITE}
    return ServiceActor(tenant=token.tenant, label=f"provisioning: {token.name}", scopes_held=held)


# --- tokens


def token_create(
    *,
    tenant: Tenant,
    name: str,
    actor: User | None,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[ProvisioningToken, str]:
    """Make a provisioning token; returns the row and the token, which is shown this once.

    An Owner (`security:write`) makes one in the admin; `actor` is None for the operators'
    `manage.py scim_token`, which runs with no account.
    """
    if actor is not None:
        act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    name = name.strip()
    if not name:
        raise ValidationError(_("Name the token."), code="required")
    now = timezone.now()
    expires_at = expires_at or now + TOKEN_LIFETIME
    if expires_at <= now:
        raise ValidationError(_("The expiry must be in the future."), code="expired")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ProvisioningToken.objects.create(
            tenant=tenant,
            name=name,
            prefix=token[: len(TOKEN_PREFIX) + 6],
            digest=token_digest(token),
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
        )
        audit_event_record(
            event=AuditEventType.PROVISIONING_TOKEN_CREATED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"token": row.name, "prefix": row.prefix, "expires_at": expires_at.isoformat()},
        )
    return row, token


def token_revoke(
    *, token: ProvisioningToken, actor: User, request: HttpRequest | None = None
) -> ProvisioningToken:
    """Revoke a token: its next request is refused. Revoking twice changes nothing."""
    act_within(actor=actor, tenant=token.tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        token = ProvisioningToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_event_record(
            event=AuditEventType.PROVISIONING_TOKEN_REVOKED,
            actor=actor,
            tenant=token.tenant,
            request=request,
            details={"token": token.name, "prefix": token.prefix},
        )
    return token


def token_use(*, token: ProvisioningToken, request: HttpRequest) -> None:
    """Note that a token was used: `last_used_at` and one event, at most once a minute.

    One conditional UPDATE decides which request records it, so parallel requests on any
    number of web processes record one event between them.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            ProvisioningToken.objects.filter(pk=token.pk)
            .exclude(last_used_at__gt=now - USED_EVENT_INTERVAL)
            .update(last_used_at=now)
        )
        if claimed:
            audit_event_record(
                event=AuditEventType.PROVISIONING_TOKEN_USED,
                actor=provisioning_actor(token=token),
                tenant=token.tenant,
                request=request,
                details={"token": token.name, "prefix": token.prefix},
            )


def provisioning_refusal_record(
    *,
    event: AuditEventType,
    token: ProvisioningToken,
    request: HttpRequest,
    details: dict,
) -> None:
    """Record a refused provisioning request in the token's tenant: once a minute per token,
    event and reason, so a directory retrying in a loop leaves one event a minute."""
    minute = int(timezone.now().timestamp() // 60)
    key = f"provisioning:refused:{token.pk}:{int(event)}:{details.get('reason')}:{minute}"
    if not cache.add(key, 1, timeout=120):
        return
    with transaction.atomic():
        audit_event_record(
            event=event,
            actor=provisioning_actor(token=token),
            tenant=token.tenant,
            request=request,
            details={"method": request.method, "path": request.path[:200], **details},
        )


def rate_limit_reached(*, token: ProvisioningToken, per_minute: int) -> bool:
    """Count this request against the token's allowance for the current minute."""
    minute = int(timezone.now().timestamp() // 60)
    key = f"provisioning:rate:{token.pk}:{minute}"
    cache.add(key, 0, timeout=120)
    try:
        return cache.incr(key) > per_minute
    except ValueError:
        # The counter was dropped between add and incr (a full cache): let this one through.
        return False


# --- settings and group mappings (Owners, in the admin)


def provisioning_settings_save(
    *,
    tenant: Tenant,
    actor: User,
    mail_joiners: bool,
    manage_owners: bool,
    request: HttpRequest | None = None,
) -> ProvisioningSettings:
    act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        current, _created = ProvisioningSettings.objects.select_for_update().get_or_create(
            tenant=tenant
        )
        changed = {}
        for field, value in (("mail_joiners", mail_joiners), ("manage_owners", manage_owners)):
            if getattr(current, field) != value:
                changed[field] = [getattr(current, field), value]
                setattr(current, field, value)
        if changed:
            current.save()
            audit_event_record(
                event=AuditEventType.PROVISIONING_SETTINGS_CHANGED,
                actor=actor,
                tenant=tenant,
                request=request,
                details={"changed": changed},
            )
    return current


def _refuse_owner_role_unless_allowed(*, tenant: Tenant, role: Role | None) -> None:
    if (
        role is not None
        and role.is_owner
        and not provisioning_settings_for(tenant=tenant).manage_owners
    ):
        raise ValidationError(
            _(
                "%(role)s makes Owners, and this tenant doesn't let its directory make Owners: "
                "turn that on in the provisioning settings first."
            ),
            code="owner_role",
            params={"role": role.name},
        )


def group_role_set(
    *, group: DirectoryGroup, role: Role | None, actor: User, request: HttpRequest | None = None
) -> DirectoryGroup:
    """Map a directory group to one of the tenant's roles (or to none), then bring its members'
    roles in line through the same rules as the directory's own changes."""
    act_within(actor=actor, tenant=group.tenant, scope=scopes.SECURITY_WRITE)
    if role is not None:
        if role.tenant_id != group.tenant_id:
            raise ValidationError(
                _("The role must belong to the same tenant."), code="foreign_role"
            )
        refuse_granting_more(actor=actor, granted=role.scope_set)
    _refuse_owner_role_unless_allowed(tenant=group.tenant, role=role)
    with transaction.atomic():
        group = (
            DirectoryGroup.objects.select_for_update(of=("self",))
            .select_related("role")
            .get(pk=group.pk)
        )
        previous = group.role
        if previous == role:
            return group
        group.role = role
        group.save(update_fields=["role"])
        audit_event_record(
            event=AuditEventType.DIRECTORY_GROUP_MAPPED,
            actor=actor,
            tenant=group.tenant,
            request=request,
            details={
                "group": group.display_name,
                "from": previous.name if previous else None,
                "to": role.name if role else None,
            },
        )
        roles_follow_groups(people=group.members.all(), actor=actor, request=request)
    return group


# --- roles from groups


def role_from_groups(*, person: User) -> Role | None:
    """The role a person's mapped groups give: of their groups' roles, the one holding the most
    scopes (ties: the role's name, A first). None when no group of theirs is mapped."""
    roles = {
        group.role
        for group in DirectoryGroup.objects.filter(
            members=person, role__isnull=False
        ).select_related("role")
    }
    ranked = sorted(roles, key=lambda role: (-len(role.scope_set), role.name))
    return ranked[0] if ranked else None


def roles_follow_groups(
    *, people: Iterable[User], actor, request: HttpRequest | None = None
) -> None:
    """Give each person the role their mapped groups give, or the tenant's least privileged
    role when they left every mapped group, through `person_role_change`.

    A change the rules refuse (an Owner, unless the tenant allows it; the last Owner; someone
    above the actor) is not made, and recorded as `DIRECTORY_ROLE_NOT_CHANGED` with the reason.
    """
    for person in list(people):
        target = role_from_groups(person=person) or least_privileged_role(
            roles=Role.objects.for_tenant(person.tenant)
        )
        if target is None or target.pk == person.role_id:
            continue
        try:
            _refuse_owner_role_unless_allowed(tenant=person.tenant, role=target)
            if person.role and person.role.is_owner:
                _refuse_owner_role_unless_allowed(tenant=person.tenant, role=person.role)
            person_role_change(person=person, role=target, actor=actor, request=request)
        except (ValidationError, PermissionDenied) as refusal:
            audit_event_record(
                event=AuditEventType.DIRECTORY_ROLE_NOT_CHANGED,
                actor=actor,
                tenant=person.tenant,
                target=person,
                request=request,
                details={
                    "to": target.name,
                    "reason": getattr(refusal, "code", None) or "refused",
                },
            )


# --- people


def _link(*, person: User, external_id: str | None) -> DirectoryPerson:
    link, _created = DirectoryPerson.objects.get_or_create(
        user=person, defaults={"tenant": person.tenant, "external_id": external_id or ""}
    )
    return link


def directory_person_create(
    *,
    tenant: Tenant,
    actor: ServiceActor,
    email: str,
    full_name: str,
    external_id: str | None,
    active: bool,
    request: HttpRequest | None = None,
) -> User:
    """Add a person the directory pushes, with the tenant's least privileged role (mapped
    groups give theirs when the directory adds the person to them).

    An address that already has an account is a conflict (`uniqueness`): the same create sent
    twice makes one person. The exception is a person this tenant's directory removed
    earlier: the directory takes them back (linked again, reactivated when `active`).
    Joiners are mailed only when the tenant turned that on: the usual invitation, which in a
    tenant requiring single sign-on says how to sign in instead of carrying a password link.
    """
    email = normalize_email(email)
    with transaction.atomic():
        existing = User.objects.select_for_update(of=("self",)).filter(email=email).first()
        if existing is not None:
            link = DirectoryPerson.objects.filter(user=existing, tenant=tenant).first()
            if link is None or link.removed_at is None:
                raise ValidationError(
                    _("A person with this userName already exists."), code="uniqueness"
                )
            return _person_taken_back(
                person=existing,
                link=link,
                actor=actor,
                full_name=full_name,
                external_id=external_id,
                active=active,
                request=request,
            )
        role = least_privileged_role(roles=Role.objects.for_tenant(tenant))
        if role is None:
            raise ValidationError(_("The tenant has no role to give."), code="no_role")
        person = person_create(
            tenant=tenant,
            email=email,
            role=role,
            actor=actor,
            full_name=full_name,
            request=request,
        )
        DirectoryPerson.objects.create(tenant=tenant, user=person, external_id=external_id or "")
        if not active:
            person_deactivate(person=person, actor=actor, request=request)
        elif provisioning_settings_for(tenant=tenant).mail_joiners:
            invitation_enqueue(person=person, invited_by=None)
    return person


def _person_taken_back(
    *,
    person: User,
    link: DirectoryPerson,
    actor: ServiceActor,
    full_name: str,
    external_id: str | None,
    active: bool,
    request: HttpRequest | None,
) -> User:
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    link.removed_at = None
    link.external_id = external_id or ""
    link.save(update_fields=["removed_at", "external_id"])
    audit_event_record(
        event=AuditEventType.DIRECTORY_PERSON_LINKED,
        actor=actor,
        tenant=person.tenant,
        target=person,
        request=request,
        details={"external_id": link.external_id, "again": True},
    )
    return directory_person_update(
        person=person,
        actor=actor,
        email=person.email,
        full_name=full_name,
        external_id=external_id,
        active=active,
        request=request,
    )


def directory_person_update(
    *,
    person: User,
    actor: ServiceActor,
    email: str,
    full_name: str,
    external_id: str | None,
    active: bool,
    request: HttpRequest | None = None,
) -> User:
    """Bring a person in line with the directory (a PUT, or a PATCH applied to what we hold):
    their email and name (`person_update`: a new email ends their sessions and tells the old
    address), the directory's id for them, and whether they are active.

    Deactivating goes through `person_deactivate`, which in one transaction ends every session,
    forgets remembered browsers and records the event; a waiting sign-in ends at its next
    request and set-password links die with the deactivation (`teams.tokens`). Reactivating
    (`person_reactivate`) revives none of them.
    """
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    with transaction.atomic():
        if not active and person.is_active:
            person = person_deactivate(person=person, actor=actor, request=request)
        person = person_update(
            person=person, actor=actor, email=email, full_name=full_name, request=request
        )
        if active and not person.is_active:
            person = person_reactivate(person=person, actor=actor, request=request)
        link = _link(person=person, external_id=external_id)
        if external_id is not None and link.external_id != external_id:
            previous = link.external_id
            link.external_id = external_id
            link.save(update_fields=["external_id"])
            audit_event_record(
                event=AuditEventType.DIRECTORY_PERSON_LINKED,
                actor=actor,
                tenant=person.tenant,
                target=person,
                request=request,
                details={"external_id": external_id, "previous": previous},
            )
    return person


def directory_person_remove(
    *, person: User, actor: ServiceActor, request: HttpRequest | None = None
) -> None:
    """A SCIM DELETE: deactivate the person (`person_deactivate`, with all it ends), unlink
    their single sign-on identity, take them out of the directory's groups, and mark them
    removed, in one transaction. The account and its audit history stay: nothing is erased."""
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_DEACTIVATE)
    with transaction.atomic():
        person = person_deactivate(person=person, actor=actor, request=request)
        for identity in ProviderIdentity.objects.filter(user=person):
            audit_event_record(
                event=AuditEventType.SSO_IDENTITY_UNLINKED,
                actor=actor,
                tenant=person.tenant,
                target=person,
                request=request,
                details={"issuer": identity.issuer, "subject": identity.subject},
            )
            identity.delete()
        groups = list(person.directory_groups.values_list("display_name", flat=True))
        person.directory_groups.clear()
        link = _link(person=person, external_id=None)
        link.removed_at = timezone.now()
        link.save(update_fields=["removed_at"])
        audit_event_record(
            event=AuditEventType.DIRECTORY_PERSON_REMOVED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={"external_id": link.external_id, "groups": groups},
        )


# --- groups


def _group_event(*, group: DirectoryGroup, actor, request, action: str, **details) -> None:
    audit_event_record(
        event=AuditEventType.DIRECTORY_GROUP_CHANGED,
        actor=actor,
        tenant=group.tenant,
        request=request,
        details={"group": group.display_name, "action": action, **details},
    )


def directory_group_create(
    *,
    tenant: Tenant,
    actor: ServiceActor,
    display_name: str,
    external_id: str | None,
    members: Iterable[User],
    request: HttpRequest | None = None,
) -> DirectoryGroup:
    """Add a group the directory pushes (unmapped: an Owner chooses its role)."""
    act_within(actor=actor, tenant=tenant, scope=scopes.MEMBERS_WRITE)
    display_name = display_name.strip()
    with transaction.atomic():
        if DirectoryGroup.objects.for_tenant(tenant).filter(display_name=display_name).exists():
            raise ValidationError(
                _("A group with this displayName already exists."), code="uniqueness"
            )
        group = DirectoryGroup.objects.create(
            tenant=tenant, display_name=display_name, external_id=external_id or ""
        )
        members = list(members)
        group.members.set(members)
        _group_event(
            group=group, actor=actor, request=request, action="created", members=len(members)
        )
    return group


def directory_group_update(
    *,
    group: DirectoryGroup,
    actor: ServiceActor,
    display_name: str,
    external_id: str | None,
    members: Iterable[User],
    request: HttpRequest | None = None,
) -> DirectoryGroup:
    """Rename a group and set its members; members who joined or left a mapped group get the
    role their groups now give (`roles_follow_groups`)."""
    act_within(actor=actor, tenant=group.tenant, scope=scopes.MEMBERS_WRITE)
    display_name = display_name.strip()
    with transaction.atomic():
        group = (
            DirectoryGroup.objects.select_for_update(of=("self",))
            .select_related("role")
            .get(pk=group.pk)
        )
        if (
            display_name != group.display_name
            and DirectoryGroup.objects.for_tenant(group.tenant)
            .filter(display_name=display_name)
            .exists()
        ):
            raise ValidationError(
                _("A group with this displayName already exists."), code="uniqueness"
            )
        before = set(group.members.all())
        after = set(members)
        changed = {}
        if display_name != group.display_name:
            changed["display_name"] = [group.display_name, display_name]
            group.display_name = display_name
        if external_id is not None and external_id != group.external_id:
            group.external_id = external_id
        group.save()
        if before != after:
            group.members.set(after)
        if changed or before != after:
            _group_event(
                group=group,
                actor=actor,
                request=request,
                action="changed",
                joined=sorted(p.email for p in after - before),
                left=sorted(p.email for p in before - after),
                **changed,
            )
        if group.role_id is not None:
            roles_follow_groups(
                people=sorted(before ^ after, key=lambda p: p.pk), actor=actor, request=request
            )
    return group


def directory_group_delete(
    *, group: DirectoryGroup, actor: ServiceActor, request: HttpRequest | None = None
) -> None:
    """Remove a group; its members get the role their remaining groups give."""
    act_within(actor=actor, tenant=group.tenant, scope=scopes.MEMBERS_WRITE)
    with transaction.atomic():
        group = DirectoryGroup.objects.select_for_update().get(pk=group.pk)
        members = list(group.members.all())
        mapped = group.role_id is not None
        _group_event(
            group=group, actor=actor, request=request, action="deleted", members=len(members)
        )
        group.delete()
        if mapped:
            roles_follow_groups(people=members, actor=actor, request=request)
