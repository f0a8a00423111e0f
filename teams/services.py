import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User, normalize_email
from accounts.outbox import mail_enqueue
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import (
    AuditEventSpec,
    PersonRef,
    TenantRef,
    audit_event_record,
    audit_events_record_bulk,
)
from teams import notices, scopes
from teams.models import INACTIVITY_WARNING_DAYS, Role, Tenant, UserSession
from teams.rules import (
    refuse_above,
    refuse_granting_more,
    refuse_other_tenant,
    refuse_removing_last_owner,
)
from teams.selectors import (
    HOLDS_OWNER_ROLE,
    people_with_last_activity,
    session_policy_for_user,
    sessions_past_limits,
)

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
    request: HttpRequest | None = None,
) -> User:
    """Add a person to a tenant. Without a password they can't sign in until they set one.

    A person acting (`actor`) can only give roles whose scopes they hold themselves.
    """
    if role.tenant_id != tenant.pk:
        raise ValidationError("The role must belong to the same tenant.", code="foreign_role")
    if actor is not None:
        refuse_other_tenant(actor=actor, tenant=tenant)
        refuse_granting_more(actor=actor, granted=role.scope_set)
    with transaction.atomic():
        user = User.objects.create_user(
            email, password, full_name=full_name, tenant=tenant, role=role
        )
        audit_event_record(
            event=AuditEventType.PERSON_INVITED,
            actor=actor,
            tenant=tenant,
            target=user,
            request=request,
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


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: [before[name], value] for name, value in after.items() if before[name] != value}


# --- People -------------------------------------------------------------------------------------


def person_update(
    *,
    person: User,
    actor: User,
    email: str,
    full_name: str,
    request: HttpRequest | None = None,
) -> User:
    """Change a person's email or name; one event listing what changed."""
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    refuse_above(actor=actor, role=person.role, what=person.email)
    email = normalize_email(email)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=person.pk)
        changed = _changes(
            {"email": person.email, "full_name": person.full_name},
            {"email": email, "full_name": full_name},
        )
        if not changed:
            return person
        person.email, person.full_name = email, full_name
        person.full_clean(exclude=["password"])
        person.save(update_fields=["email", "full_name"])
        audit_event_record(
            event=AuditEventType.PERSON_EDITED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={"changed": changed},
        )
    return person


def person_role_change(
    *, person: User, role: Role, actor: User, request: HttpRequest | None = None
) -> User:
    """Give a person another role of their tenant, and end their sessions.

    Ending the sessions makes a demotion bite on the very next request, and a promotion start
    from a fresh sign-in. Acting on oneself keeps the session one is using.
    """
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    if role.tenant_id != person.tenant_id:
        raise ValidationError("The role must belong to the person's tenant.", code="foreign_role")
    refuse_above(actor=actor, role=person.role, what=person.email)
    refuse_granting_more(actor=actor, granted=role.scope_set)
    with transaction.atomic():
        person = (
            User.objects.select_related("role").select_for_update(of=("self",)).get(pk=person.pk)
        )
        previous = person.role
        if previous == role:
            return person
        if not role.is_owner:
            refuse_removing_last_owner(person=person)
        person.role = role
        person.save(update_fields=["role"])
        ended = _user_sessions_delete(
            user=person, keep_session_key=_own_session(actor, person, request)
        )
        audit_event_record(
            event=AuditEventType.ROLE_CHANGED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={
                "from": previous.name if previous else None,
                "to": role.name,
                "sessions": ended,
            },
        )
    return person


def person_deactivate(*, person: User, actor: User, request: HttpRequest | None = None) -> User:
    """Stop a person from signing in, and end every session they have at once."""
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    if person.pk == actor.pk:
        raise ValidationError("You can't deactivate yourself.", code="self")
    if person.is_superuser and not actor.is_superuser:
        raise ValidationError("Only operators manage operators.", code="operator")
    refuse_above(actor=actor, role=person.role, what=person.email)
    with transaction.atomic():
        person = (
            User.objects.select_related("role").select_for_update(of=("self",)).get(pk=person.pk)
        )
        if not person.is_active:
            return person
        refuse_removing_last_owner(person=person)
        person.is_active = False
        person.save(update_fields=["is_active"])
        ended = _user_sessions_delete(user=person)
        audit_event_record(
            event=AuditEventType.PERSON_DEACTIVATED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={"sessions": ended},
        )
    return person


def person_reactivate(*, person: User, actor: User, request: HttpRequest | None = None) -> User:
    """Let a deactivated person sign in again. Counts as activity for stale-account checks."""
    refuse_other_tenant(actor=actor, tenant=person.tenant)
    refuse_above(actor=actor, role=person.role, what=person.email)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=person.pk)
        if person.is_active:
            return person
        person.is_active = True
        person.save(update_fields=["is_active"])
        audit_event_record(
            event=AuditEventType.PERSON_REACTIVATED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
        )
    return person


def _own_session(actor: User | None, person: User, request: HttpRequest | None) -> str | None:
    if request is not None and actor is not None and actor.pk == person.pk:
        return request.session.session_key
    return None


# --- Roles and tenant policy --------------------------------------------------------------------

ROLE_FIELDS = (
    "name",
    "scopes",
    "require_mfa",
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
    refuse_other_tenant(actor=actor, tenant=tenant)
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
    refuse_other_tenant(actor=actor, tenant=role.tenant)
    refuse_above(actor=actor, role=role, what="this role")
    if "scopes" in values:
        values = {**values, "scopes": sorted(set(values["scopes"]))}
        refuse_granting_more(actor=actor, granted=values["scopes"])
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        changed = _changes(_role_values(role), values)
        if role.is_builtin and set(changed) & set(BUILTIN_ROLE_FIXED_FIELDS):
            raise ValidationError(
                "Built-in roles keep their name and scopes; make a custom role instead.",
                code="builtin_role",
            )
        if not changed:
            return role
        for name, (_, value) in changed.items():
            setattr(role, name, value)
        role.full_clean()
        role.save(update_fields=list(changed))
        audit_event_record(
            event=AuditEventType.ROLE_EDITED,
            actor=actor,
            tenant=role.tenant,
            request=request,
            details={"role": role.name, "changed": changed},
        )
    return role


def role_delete(*, role: Role, actor: User, request: HttpRequest | None = None) -> None:
    refuse_other_tenant(actor=actor, tenant=role.tenant)
    refuse_above(actor=actor, role=role, what="this role")
    if role.is_builtin:
        raise ValidationError("Built-in roles can't be deleted.", code="builtin_role")
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        holders = role.people.count()
        if holders:
            raise ValidationError(
                "%(count)s people hold the role %(role)s; give them another role first.",
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
    "password_max_age_days",
    "password_history_count",
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
    refuse_other_tenant(actor=actor, tenant=tenant)
    unknown = set(values) - set(TENANT_POLICY_FIELDS) - {"name"}
    if unknown:
        raise ValidationError(
            "Not a policy setting: %(names)s.", code="unknown_setting", params={"names": unknown}
        )
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = _changes({name: getattr(tenant, name) for name in values}, values)
        if not changed:
            return tenant
        for name, (_, value) in changed.items():
            setattr(tenant, name, value)
        tenant.full_clean()
        tenant.save(update_fields=list(changed))
        audit_event_record(
            event=AuditEventType.TENANT_POLICY_CHANGED,
            actor=actor,
            tenant=tenant,
            request=request,
            details={"changed": changed},
        )
    return tenant


# --- Sessions -----------------------------------------------------------------------------------


SESSION_STORE_GRACE = timedelta(hours=1)


def session_track(*, request: HttpRequest, user: User) -> UserSession:
    """Remember the session that `login()` just started, so it can be listed, capped and ended.

    Called on every sign-in (by the `user_logged_in` receiver, and again by the sign-in service,
    which finds the row made). Sets the session's absolute end, and ends the person's oldest
    sessions beyond their limit. Parallel sign-ins of one person queue on their row, so each
    counts the sessions the others made and the limit holds.
    """
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key
    with transaction.atomic():
        tracked = UserSession.objects.filter(session_key=key).first()
        if tracked is not None:
            return tracked
        list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        policy = session_policy_for_user(user=user)
        now = timezone.now()
        tracked = UserSession.objects.create(
            tenant=user.tenant,
            user=user,
            session_key=key,
            ip=client_ip(request),
            user_agent=user_agent(request),
            started_at=now,
            last_active_at=now,
        )
        oldest = UserSession.objects.filter(
            pk__in=list(
                UserSession.objects.filter(user=user)
                .order_by("-started_at", "-id")
                .values_list("pk", flat=True)[policy.max_sessions :]
            )
        )
        ended = len(
            tracked_sessions_delete(
                oldest, note=notices.session_limit_reached(limit=policy.max_sessions)
            )
        )
        if ended:
            audit_event_record(
                event=AuditEventType.SESSION_REVOKED,
                actor=None,
                tenant=user.tenant,
                target=user,
                request=request,
                details={
                    "reason": "session limit",
                    "limit": policy.max_sessions,
                    "sessions": ended,
                },
            )
    # The store keeps the session a little past its lifetime, so that the middleware, not the
    # store, ends it and can say why; the store's expiry is only the backstop.
    request.session.set_expiry(now + policy.lifetime + SESSION_STORE_GRACE)
    return tracked


def session_key_cycle(*, request: HttpRequest) -> None:
    """Give a signed-in session a new key (and CSRF token) when it gains rights without a
    login() call, e.g. at the second sign-in step; its tracking row follows the new key."""
    old_key = request.session.session_key
    request.session.cycle_key()
    rotate_token(request)
    session_key_moved(old_key=old_key, new_key=request.session.session_key)


def session_key_moved(*, old_key: str | None, new_key: str | None) -> None:
    """Follow a session whose key changed without a new sign-in (a password change cycles it)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def session_forget(*, session_key: str | None) -> None:
    """Drop the tracking row of a session that is ending through sign-out."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def session_touch(*, tracked: UserSession, now: datetime) -> None:
    UserSession.objects.filter(pk=tracked.pk).update(last_active_at=now)


def session_rekey(*, tracked: UserSession, session_key: str | None) -> None:
    """Follow a session whose key changed mid-request without `session_key_cycle` (which moves
    the row itself), or forget one that ended.

    A rotated key still signed in as the same person keeps its row, so the session is not taken
    for revoked on its next request.
    """
    with transaction.atomic():
        holder = (
            UserSession.objects.filter(session_key=session_key).first() if session_key else None
        )
        if holder is not None and holder.pk == tracked.pk:
            return
        if session_key and holder is None:
            UserSession.objects.filter(pk=tracked.pk).update(session_key=session_key)
        else:
            UserSession.objects.filter(pk=tracked.pk).delete()


def sessions_delete(session_keys: list[str]) -> None:
    """Delete sessions from the store in bulk, including any cached copy in front of it."""
    Session.objects.filter(session_key__in=session_keys).delete()
    _session_cache_forget(session_keys)


def _session_cache_forget(session_keys: list[str]) -> None:
    cache_key_prefix = getattr(_session_store(), "cache_key_prefix", None)
    if cache_key_prefix and session_keys:
        try:
            caches[settings.SESSION_CACHE_ALIAS].delete_many(
                [cache_key_prefix + key for key in session_keys]
            )
        except Exception:  # noqa: BLE001 - the tracking rows are gone, so stale copies are refused
            logger.warning("Session cache unavailable; ended sessions may stay cached")


def tracked_sessions_delete(
    tracked: QuerySet[UserSession], *, note: str = notices.SESSION_ENDED
) -> list[tuple[int, str]]:
    """End the given tracked sessions and forget them, in a fixed number of queries however many
    there are. Returns (person id, session key) of each one ended.

    Each session's data in the store is replaced by `note` alone: the cookie is anonymous from
    its next request, which is told why it was signed out.
    """
    with transaction.atomic():
        ended = list(tracked.values_list("user_id", "session_key"))
        if not ended:
            return []
        Session.objects.filter(session_key__in=tracked.values("session_key")).update(
            session_data=_session_store()().encode({notices.ENDED_NOTE_KEY: note})
        )
        UserSession.objects.filter(pk__in=tracked.values("pk")).delete()
    _session_cache_forget([key for _, key in ended])
    return ended


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _user_sessions_delete(*, user: User, keep_session_key: str | None = None) -> int:
    tracked = UserSession.objects.filter(user=user)
    if keep_session_key:
        tracked = tracked.exclude(session_key=keep_session_key)
    return len(tracked_sessions_delete(tracked))


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
    if actor is not None and actor.pk != user.pk:
        refuse_other_tenant(actor=actor, tenant=user.tenant)
        refuse_above(actor=actor, role=user.role, what=f"the sessions of {user.email}")
    with transaction.atomic():
        ended = _user_sessions_delete(user=user, keep_session_key=keep_session_key)
        audit_event_record(
            event=AuditEventType.SESSION_REVOKED,
            actor=actor,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"reason": reason, "sessions": ended},
        )
    return ended


def session_revoke(
    *, session: UserSession, actor: User, reason: str, request: HttpRequest | None = None
) -> None:
    """End one tracked session: its cookie is anonymous on its next request."""
    person = session.user
    if actor.pk != person.pk:
        refuse_other_tenant(actor=actor, tenant=person.tenant)
        refuse_above(actor=actor, role=person.role, what=f"the sessions of {person.email}")
    with transaction.atomic():
        ended = len(tracked_sessions_delete(UserSession.objects.filter(pk=session.pk)))
        if ended:
            audit_event_record(
                event=AuditEventType.SESSION_REVOKED,
                actor=actor,
                tenant=person.tenant,
                target=person,
                request=request,
                details={"reason": reason, "sessions": ended, "ip": session.ip},
            )


def session_expire(*, request: HttpRequest, tracked: UserSession, reason: str) -> None:
    """Sign out the current request because its session is past a limit, and audit it once
    (the beat task may be ending the same session at the same moment)."""
    user = request.user
    with transaction.atomic():
        deleted, _ = UserSession.objects.filter(pk=tracked.pk).delete()
        if deleted:
            audit_event_record(
                event=AuditEventType.SESSION_EXPIRED,
                actor=None,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"reason": reason},
            )
        logout(request)


def sessions_expire(*, now: datetime | None = None) -> dict[str, int]:
    """End, server-side and in bulk, every session past its idle timeout or lifetime.

    One event per session ended, written in one statement. Rows another run holds are skipped,
    so overlapping runs never end (or audit) a session twice. The session store's own expired
    rows are cleared too. Returns counts by reason.
    """
    now = now or timezone.now()
    counts = dict.fromkeys(("idle", "lifetime"), 0)
    while True:
        batch = _sessions_expire_batch(now=now)
        for reason, count in batch.items():
            counts[reason] += count
        if sum(batch.values()) < EXPIRY_BATCH_SIZE:
            break
    _session_store().clear_expired()
    return counts


# Expired sessions are ended this many at a time, each batch in its own transaction, so a
# backlog never holds locks (or a statement's worth of parameters) beyond a modest size.
EXPIRY_BATCH_SIZE = 5000


def _sessions_expire_batch(*, now: datetime) -> dict[str, int]:
    counts = dict.fromkeys(("idle", "lifetime"), 0)
    with transaction.atomic():
        chosen = list(
            sessions_past_limits(now=now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list(
                "pk", "tenant_id", "user_id", "user__email", "ip", "limit_reason", "limit_minutes"
            )[:EXPIRY_BATCH_SIZE]
        )
        by_note: dict[str, list[int]] = {}
        for pk, _, _, _, _, reason, minutes in chosen:
            note = notices.session_expired(reason=reason, limit=timedelta(minutes=minutes))
            by_note.setdefault(note, []).append(pk)
            counts[reason] += 1
        for note, pks in by_note.items():
            tracked_sessions_delete(UserSession.objects.filter(pk__in=pks), note=note)
        audit_events_record_bulk(
            [
                AuditEventSpec(
                    event=AuditEventType.SESSION_EXPIRED,
                    tenant=TenantRef(tenant_id) if tenant_id else None,
                    target=PersonRef(user_id, email),
                    details={"reason": reason, "ip": ip},
                )
                for _, tenant_id, user_id, email, ip, reason, _ in chosen
            ]
        )
    return counts


# --- Stale accounts -----------------------------------------------------------------------------


@dataclass
class StaleSummary:
    """What a stale-account run did (or would do) in one tenant."""

    tenant: Tenant
    deactivated: list[str] = field(default_factory=list)
    kept_last_owner: list[str] = field(default_factory=list)
    sessions_ended: int = 0


def _last_owners_to_keep(
    *, candidates: list[tuple[int, str, int, int | None, datetime]], owner_role_ids: set[int]
) -> set[int]:
    """Of the candidates who are Owners, the ones to keep so every tenant keeps an active Owner:
    in a tenant whose every active Owner is a candidate, the most recently active one."""
    stale_owners: dict[int, list[tuple[datetime, int]]] = {}
    for pk, _, tenant_id, role_id, active_at in candidates:
        if role_id in owner_role_ids:
            stale_owners.setdefault(tenant_id, []).append((active_at, pk))
    if not stale_owners:
        return set()
    active_owners = dict(
        User.objects.filter(HOLDS_OWNER_ROLE, is_active=True, tenant_id__in=stale_owners)
        .values("tenant_id")
        .annotate(count=Count("pk"))
        .values_list("tenant_id", "count")
    )
    return {
        max(owners)[1]
        for tenant_id, owners in stale_owners.items()
        if active_owners.get(tenant_id, 0) <= len(owners)
    }


def _stale_people(
    *, now: datetime, days: int, tenant: Tenant | None, warned_for_days: int | None
) -> QuerySet[User]:
    people = people_with_last_activity().filter(
        is_active=True,
        is_superuser=False,
        tenant__isnull=False,
        active_at__lt=now - timedelta(days=days),
    )
    if tenant is not None:
        people = people.filter(tenant=tenant)
    if warned_for_days is not None:
        people = people.filter(
            Exists(
                AuditEvent.objects.filter(
                    target=OuterRef("pk"),
                    event=AuditEventType.INACTIVITY_WARNING_SENT,
                    created_at__gte=OuterRef("active_at"),
                    created_at__lte=now - timedelta(days=warned_for_days),
                )
            )
        )
    return people


def stale_accounts_deactivate(
    *,
    days: int,
    tenant: Tenant | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    warned_for_days: int | None = None,
) -> list[StaleSummary]:
    """Deactivate everybody with no sign-in (joining or reactivation) in the last `days` days.

    Operators are never touched, and a tenant keeps its last active Owner. Sessions end, and
    each person gets one PERSON_DEACTIVATED event. The work is a fixed number of statements
    whatever the number of people. With `warned_for_days`, only people warned at least that long
    ago (and since they were last active) are deactivated. Running it again changes nothing.
    """
    if days < 1:
        raise ValidationError("The number of days must be at least 1.", code="days")
    now = now or timezone.now()
    people = _stale_people(now=now, days=days, tenant=tenant, warned_for_days=warned_for_days)
    owner_role_ids = set(Role.objects.owner().values_list("pk", flat=True))
    with transaction.atomic():
        candidates = list(
            (people if dry_run else people.select_for_update(of=("self",)))
            .order_by("tenant_id", "email")
            .values_list("pk", "email", "tenant_id", "role_id", "active_at")
        )
        kept = _last_owners_to_keep(candidates=candidates, owner_role_ids=owner_role_ids)
        chosen = people.exclude(pk__in=kept)
        sessions_ended: Counter[int] = Counter()
        if not dry_run and len(candidates) > len(kept):
            tracked = UserSession.objects.filter(user__in=chosen.values("pk"))
            sessions_ended.update(user_id for user_id, _ in tracked_sessions_delete(tracked))
            chosen.update(is_active=False)
            audit_events_record_bulk(
                [
                    AuditEventSpec(
                        event=AuditEventType.PERSON_DEACTIVATED,
                        tenant=TenantRef(tenant_id),
                        target=PersonRef(pk, email),
                        details={
                            "reason": f"no sign-in for {days} days",
                            "sessions": sessions_ended[pk],
                        },
                    )
                    for pk, email, tenant_id, _, _ in candidates
                    if pk not in kept
                ]
            )
    tenants = Tenant.objects.in_bulk({tenant_id for _, _, tenant_id, _, _ in candidates})
    summaries: dict[int, StaleSummary] = {}
    if tenant is not None:
        summaries[tenant.pk] = StaleSummary(tenant=tenant)
    for pk, email, tenant_id, _, _ in candidates:
        summary = summaries.setdefault(tenant_id, StaleSummary(tenant=tenants[tenant_id]))
        (summary.kept_last_owner if pk in kept else summary.deactivated).append(email)
        summary.sessions_ended += sessions_ended[pk]
    return sorted(summaries.values(), key=lambda summary: summary.tenant.slug)


def inactivity_warnings_send(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Mail everybody who will be deactivated for inactivity in a week (once per idle spell)."""
    days = tenant.deactivate_after_days
    if not days:
        return 0
    now = now or timezone.now()
    people = _stale_people(
        now=now, days=days - INACTIVITY_WARNING_DAYS, tenant=tenant, warned_for_days=None
    ).exclude(
        Exists(
            AuditEvent.objects.filter(
                target=OuterRef("pk"),
                event=AuditEventType.INACTIVITY_WARNING_SENT,
                created_at__gte=OuterRef("active_at"),
            )
        )
    )
    owner_role_ids = set(Role.objects.for_tenant(tenant).owner().values_list("pk", flat=True))
    with transaction.atomic():
        candidates = list(
            people.order_by("email").values_list("pk", "email", "tenant_id", "role_id", "active_at")
        )
        kept = _last_owners_to_keep(candidates=candidates, owner_role_ids=owner_role_ids)
        warned = [row for row in candidates if row[0] not in kept]
        deactivate_on = (now + timedelta(days=INACTIVITY_WARNING_DAYS)).date()
        sign_in_url = settings.SITE_URL + reverse("accounts:login")
        for _, email, _, _, _ in warned:
            mail_enqueue(
                to=email,
                kind="inactivity_warning",
                context={
                    "tenant_name": tenant.name,
                    "days": days,
                    "deactivate_on": deactivate_on,
                    "sign_in_url": sign_in_url,
                },
            )
        audit_events_record_bulk(
            [
                AuditEventSpec(
                    event=AuditEventType.INACTIVITY_WARNING_SENT,
                    tenant=tenant,
                    target=PersonRef(pk, email),
                    details={"deactivate_on": deactivate_on.isoformat()},
                )
                for pk, email, _, _, _ in warned
            ]
        )
    return len(warned)


def inactivity_policy_apply(*, now: datetime | None = None) -> dict[str, int]:
    """The daily run of every tenant's "deactivate after N days without sign-in" setting:
    warn those a week away, and deactivate those warned a week ago who still haven't signed in."""
    now = now or timezone.now()
    totals = {"warned": 0, "deactivated": 0}
    for tenant in Tenant.objects.filter(deactivate_after_days__isnull=False).order_by("pk"):
        summaries = stale_accounts_deactivate(
            days=tenant.deactivate_after_days,
            tenant=tenant,
            now=now,
            warned_for_days=INACTIVITY_WARNING_DAYS,
        )
        totals["deactivated"] += sum(len(summary.deactivated) for summary in summaries)
        totals["warned"] += inactivity_warnings_send(tenant=tenant, now=now)
    return totals
