"""Tenants: making one with its built-in roles and first Owner."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.http import HttpRequest
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from accounts.models import User, normalize_email
from audit.events import AuditEventType
from audit.services import (
    audit_event_record,
)
from teams import scopes
from teams.models import Role, Tenant, is_operator
from teams.services.access_list import access_list_switch
from teams.services.people import invitation_enqueue, person_create
from teams.services.roles import tenant_policy_update

SLUG_MAX_LENGTH = Tenant._meta.get_field("slug").max_length


def builtin_roles_create(*, tenant: Tenant) -> dict[str, Role]:
    """The roles every tenant starts with, by name."""
    return {
        builtin.name: Role.objects.create(
            tenant=tenant, name=builtin.name, scopes=sorted(builtin.scopes), is_builtin=True
        )
        for builtin in scopes.BUILTIN_ROLES
    }


def tenant_new_check(*, name: str, owner_email: str, slug: str = "") -> tuple[str, str, str]:
    """The checks a new tenant passes before anything is made, for the service and for the
    forms that ask first: its name, slug and Owner's address, normalised. Raises a
    ValidationError saying what is wrong."""
    name = name.strip()
    if not name:
        raise ValidationError(_("The tenant needs a name."), code="name_required")
    slug = slug or slugify(name)[:SLUG_MAX_LENGTH].strip("-")
    if not slug:
        raise ValidationError(
            _("Can't make a slug from %(name)s: give one with letters or digits."),
            code="slug_required",
            params={"name": name},
        )
    validate_slug(slug)
    Tenant(name=name, slug=slug).full_clean(validate_unique=False)
    owner_email = normalize_email(owner_email)
    User._meta.get_field("email").run_validators(owner_email)
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError(
            _("A tenant with the slug %(slug)s already exists."),
            code="duplicate_slug",
            params={"slug": slug},
        )
    if User.objects.filter(email=owner_email).exists():
        raise ValidationError(
            _("%(email)s already has an account."),
            code="duplicate_email",
            params={"email": owner_email},
        )
    return name, slug, owner_email


def tenant_create(
    *,
    name: str,
    owner_email: str,
    actor: User | None,
    owner_full_name: str = "",
    slug: str = "",
    request: HttpRequest | None = None,
) -> Tenant:
    """Make a tenant with its built-in roles and its first Owner, all or nothing.

    Operators make tenants: from the command line (`create_tenant`, no actor) or the admin (an
    operator as the actor). Anybody else is refused, whatever page reached the service.
    """
    if actor is not None and not is_operator(actor):
        raise PermissionDenied("Only operators make tenants.")
    name, slug, owner_email = tenant_new_check(name=name, owner_email=owner_email, slug=slug)
    tenant = Tenant(name=name, slug=slug)
    with transaction.atomic():
        tenant.save()
        roles = builtin_roles_create(tenant=tenant)
        audit_event_record(
            event=AuditEventType.TENANT_CREATED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"name": name, "slug": slug},
        )
        person_create(
            tenant=tenant,
            email=owner_email,
            full_name=owner_full_name,
            role=roles[scopes.OWNER.name],
            actor=actor,
            request=request,
        )
    return tenant


def tenant_onboard(
    *,
    name: str,
    owner_email: str,
    actor: User | None,
    owner_full_name: str = "",
    slug: str = "",
    request: HttpRequest | None = None,
) -> Tenant:
    """Make a tenant with its built-in roles and first Owner, and mail the Owner a link to
    choose their password: all or nothing."""
    with transaction.atomic():
        tenant = tenant_create(
            name=name,
            owner_email=owner_email,
            owner_full_name=owner_full_name,
            slug=slug,
            actor=actor,
            request=request,
        )
        owner = User.objects.for_tenant(tenant).get()
        invitation_enqueue(person=owner, invited_by=actor)
    return tenant


def tenant_security_update(
    *,
    tenant: Tenant,
    actor: User,
    values: dict,
    access_list_enabled: bool | None = None,
    confirm_exclusion: bool = False,
    request: HttpRequest | None = None,
) -> Tenant:
    """Save the Security page: the policy `values` (one TENANT_POLICY_CHANGED event listing
    what changed, through `tenant_policy_update`) and, when given, the IP access list's switch
    (`access_list_switch`, its own event and self-lockout guard), all or nothing: a refused
    switch leaves the policy as it was too."""
    with transaction.atomic():
        tenant = tenant_policy_update(tenant=tenant, actor=actor, values=values, request=request)
        if access_list_enabled is not None:
            tenant = access_list_switch(
                tenant=tenant,
                enabled=access_list_enabled,
                actor=actor,
                request=request,
                confirm_exclusion=confirm_exclusion,
            )
    return tenant
