import logging
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User, normalize_email
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams import scopes
from teams.models import Role, Tenant, UserSession

logger = logging.getLogger(__name__)

SLUG_MAX_LENGTH = Tenant._meta.get_field("slug").max_length


def builtin_roles_create(*, tenant: Tenant) -> dict[str, Role]:
    """The roles every tenant starts with, by name."""
    return {
        builtin.name: Role.objects.create(
            tenant=tenant, name=builtin.name, scopes=sorted(builtin.scopes), is_builtin=True
        )
        for builtin in scopes.BUILTIN_ROLES
    }


def person_create(
    *,
    tenant: Tenant,
    email: str,
    role: Role,
    actor: User | None,
    full_name: str = "",
    password: str | None = None,
) -> User:
    """Add a person to a tenant. Without a password they can't sign in until they set one."""
    with transaction.atomic():
        user = User.objects.create_user(
            email, password, full_name=full_name, tenant=tenant, role=role
        )
        audit_event_record(
            event=AuditEventType.PERSON_INVITED,
            actor=actor,
            tenant=tenant,
            target=user,
            details={"role": role.name},
        )
    return user


def tenant_create(
    *,
    name: str,
    owner_email: str,
    actor: User | None,
    owner_full_name: str = "",
    slug: str = "",
) -> Tenant:
    """Make a tenant with its built-in roles and its first Owner, all or nothing."""
    name = name.strip()
    if not name:
        raise ValidationError("The tenant needs a name.", code="name_required")
    slug = slug or slugify(name)[:SLUG_MAX_LENGTH].strip("-")
    if not slug:
        raise ValidationError(
            "Can't make a slug from %(name)s: give one with letters or digits.",
            code="slug_required",
            params={"name": name},
        )
    validate_slug(slug)
    owner_email = normalize_email(owner_email)
    validate_email(owner_email)
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError(
            "A tenant with the slug %(slug)s already exists.",
            code="duplicate_slug",
            params={"slug": slug},
        )
    if User.objects.filter(email=owner_email).exists():
        raise ValidationError(
            "%(email)s already has an account.",
            code="duplicate_email",
            params={"email": owner_email},
        )
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug)
        roles = builtin_roles_create(tenant=tenant)
        audit_event_record(
            event=AuditEventType.TENANT_CREATED,
            actor=actor,
            tenant=tenant,
            details={"name": name, "slug": slug},
        )
        person_create(
            tenant=tenant,
            email=owner_email,
            full_name=owner_full_name,
            role=roles[scopes.OWNER.name],
            actor=actor,
        )
    return tenant


def session_track(*, request: HttpRequest, user: User) -> UserSession:
    """Remember the session that `login()` just started, so it can be listed and ended."""
    now = timezone.now()
    return UserSession.objects.create(
        tenant=user.tenant,
        user=user,
        session_key=request.session.session_key,
        ip=client_ip(request),
        user_agent=user_agent(request),
        started_at=now,
        last_active_at=now,
    )


def session_key_cycle(*, request: HttpRequest) -> None:
    """Give a signed-in session a new key (and CSRF token) when it gains rights without a
    login() call, e.g. at the second sign-in step; its tracking row follows the new key."""
    old_key = request.session.session_key
    request.session.cycle_key()
    rotate_token(request)
    session_rekey(old_key=old_key, new_key=request.session.session_key)


def session_rekey(*, old_key: str | None, new_key: str | None) -> None:
    """Follow a session whose key changed without a new sign-in (a password change cycles it)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def session_forget(*, session_key: str | None) -> None:
    """Drop the tracking row of a session that is ending through sign-out."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def sessions_delete(session_keys: list[str]) -> None:
    """Delete sessions from the store in bulk, including any cached copy in front of it."""
    Session.objects.filter(session_key__in=session_keys).delete()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    cache_key_prefix = getattr(store, "cache_key_prefix", None)
    if cache_key_prefix and session_keys:
        try:
            caches[settings.SESSION_CACHE_ALIAS].delete_many(
                [cache_key_prefix + key for key in session_keys]
            )
        except Exception:  # noqa: BLE001 - the tracking rows are gone, so stale copies are refused
            logger.warning("Session cache unavailable; ended sessions may stay cached")


def user_sessions_end(
    *,
    user: User,
    actor: User | None,
    reason: str,
    request: HttpRequest | None = None,
    keep_session_key: str | None = None,
) -> int:
    """End every session of a person at once (except `keep_session_key`): their old cookies are
    anonymous on the next request. Records one event naming the reason and how many ended."""
    with transaction.atomic():
        tracked = UserSession.objects.filter(user=user)
        if keep_session_key:
            tracked = tracked.exclude(session_key=keep_session_key)
        keys = list(tracked.values_list("session_key", flat=True))
        sessions_delete(keys)
        tracked.delete()
        audit_event_record(
            event=AuditEventType.SESSION_REVOKED,
            actor=actor,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"reason": reason, "sessions": len(keys)},
        )
    return len(keys)
