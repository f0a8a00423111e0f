"""What the directory does to people: add, change and remove them, as the directory's actor.

People are changed only through teams' people services (`person_create`, `person_update`,
`person_role_change`, `person_deactivate`, `person_reactivate`), each opening with
`teams.rules.act_on`; the directory is their actor, a `teams.actors.ServiceActor` labelled
"provisioning: <token name>". It holds every scope but `security:write` unless the tenant lets
it manage Owners, so the guard itself refuses it an Owner: it can neither give an Owner's role
(`refuse_granting_more`) nor change an Owner (`refuse_above`), and no path removes the last
active Owner (`refuse_removing_last_owner`).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User, normalize_email
from audit.events import AuditEventType
from audit.services import audit_event_record
from provisioning.models import DirectoryPerson, ProvisioningToken
from provisioning.services.settings import provisioning_settings_for
from sso.models import ProviderIdentity
from teams import scopes
from teams.actors import ServiceActor
from teams.models import Role, Tenant
from teams.rules import act_on
from teams.selectors import least_privileged_role
from teams.services.people import (
    invitation_enqueue,
    person_create,
    person_deactivate,
    person_reactivate,
    person_update,
)


def provisioning_actor(*, token: ProvisioningToken) -> ServiceActor:
    """The actor a token's requests act as (see the module's docstring for its scopes)."""
    held = scopes.ALL_SCOPES
    if not provisioning_settings_for(tenant=token.tenant).manage_owners:
        held = held - {scopes.SECURITY_WRITE}
    return ServiceActor(tenant=token.tenant, label=f"provisioning: {token.name}", scopes_held=held)


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
