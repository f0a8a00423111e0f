"""The directory's groups and the roles they give: the groups it pushes (create, update,
delete), the group → role mapping Owners choose in the admin, and each member's role
following their mapped groups through `person_role_change`."""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from audit.services import audit_event_record
from provisioning.models import DirectoryGroup
from provisioning.services.settings import provisioning_settings_for
from teams import scopes
from teams.actors import ServiceActor
from teams.models import Role, Tenant
from teams.rules import act_within, refuse_granting_more
from teams.selectors import least_privileged_role
from teams.services.people import person_role_change


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
