from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import (
    Case,
    CharField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.actors import ServiceActor
from teams.models import (
    AccessListEntry,
    AccessListException,
    RememberedBrowser,
    Role,
    Tenant,
    UserSession,
    address_key,
    client_address_parse,
)

# Operators have no role; their sessions follow the same defaults as a new role's.
DEFAULT_IDLE_TIMEOUT_MINUTES: int = Role._meta.get_field("idle_timeout_minutes").default
DEFAULT_SESSION_LIFETIME_MINUTES: int = Role._meta.get_field("session_lifetime_minutes").default
DEFAULT_MAX_SESSIONS: int = Role._meta.get_field("max_sessions").default


# Why a session past a limit ends: its lifetime, its idle timeout, or, for a session started
# through the tenant's identity provider, the tenant's single sign-on maximum age.
LIFETIME = "lifetime"
IDLE = "idle"
SINGLE_SIGN_ON_MAX_AGE = "single_sign_on"


@dataclass(frozen=True)
class SessionPolicy:
    """The limits on a person's sessions. `single_sign_on_max_age` holds only the sessions
    started through the tenant's identity provider; None when the tenant set none."""

    idle_timeout: timedelta
    lifetime: timedelta
    max_sessions: int
    single_sign_on_max_age: timedelta | None = None

    def limits(self, tracked: UserSession) -> list[tuple[str, timedelta, datetime]]:
        """(reason, limit, measured since) for each limit `tracked` is held to, in the order
        they are checked: the first one past decides the reason given."""
        limits = [(LIFETIME, self.lifetime, tracked.started_at)]
        if self.single_sign_on_max_age is not None and tracked.provider_issuer:
            limits.append((SINGLE_SIGN_ON_MAX_AGE, self.single_sign_on_max_age, tracked.started_at))
        limits.append((IDLE, self.idle_timeout, tracked.last_active_at))
        return limits


def _stricter(role_value: int | None, tenant_cap: int | None, default: int) -> int:
    value = default if role_value is None else role_value
    return value if tenant_cap is None else min(value, tenant_cap)


def session_policy_for_user(*, user: User) -> SessionPolicy:
    """The limits on a person's sessions: their role's, tightened by any tenant-wide cap."""
    role, tenant = user.role, user.tenant
    return SessionPolicy(
        idle_timeout=timedelta(
            minutes=_stricter(
                role and role.idle_timeout_minutes,
                tenant and tenant.idle_timeout_minutes,
                DEFAULT_IDLE_TIMEOUT_MINUTES,
            )
        ),
        lifetime=timedelta(
            minutes=_stricter(
                role and role.session_lifetime_minutes,
                tenant and tenant.session_lifetime_minutes,
                DEFAULT_SESSION_LIFETIME_MINUTES,
            )
        ),
        max_sessions=_stricter(
            role and role.max_sessions, tenant and tenant.max_sessions, DEFAULT_MAX_SESSIONS
        ),
        single_sign_on_max_age=timedelta(minutes=tenant.single_sign_on_max_age_minutes)
        if tenant is not None and tenant.single_sign_on_max_age_minutes
        else None,
    )


def sessions_past_limits(*, now: datetime) -> QuerySet[UserSession]:
    """Tracked sessions over their idle timeout, lifetime or (started through the tenant's
    identity provider) single sign-on maximum age, annotated with which one (`limit_reason`:
    "lifetime", "single_sign_on" or "idle") and how many minutes it is (`limit_minutes`).

    The limits come from `_stricter`, the rule `session_policy_for_user` applies, worked out per
    role (roles are few) and grouped by value into one condition each, so finding any number of
    sessions is one query; the maximum ages likewise per tenant that set one. A session over
    several limits counts as past the first in `SessionPolicy.limits`' order.
    """
    idle: dict[int, list[int]] = defaultdict(list)
    lifetime: dict[int, list[int]] = defaultdict(list)
    for role_id, role_idle, role_lifetime, tenant_idle, tenant_lifetime in Role.objects.values_list(
        "pk",
        "idle_timeout_minutes",
        "session_lifetime_minutes",
        "tenant__idle_timeout_minutes",
        "tenant__session_lifetime_minutes",
    ):
        idle[_stricter(role_idle, tenant_idle, DEFAULT_IDLE_TIMEOUT_MINUTES)].append(role_id)
        lifetime[
            _stricter(role_lifetime, tenant_lifetime, DEFAULT_SESSION_LIFETIME_MINUTES)
        ].append(role_id)
    single_sign_on: dict[int, list[int]] = defaultdict(list)
    for tenant_id, minutes in Tenant.objects.filter(
        single_sign_on_max_age_minutes__isnull=False
    ).values_list("pk", "single_sign_on_max_age_minutes"):
        single_sign_on[minutes].append(tenant_id)
    through_provider = ~Q(provider_issuer="")
    limits = [
        (LIFETIME, "started_at", Q(user__role__isnull=True), DEFAULT_SESSION_LIFETIME_MINUTES),
        *(
            (LIFETIME, "started_at", Q(user__role_id__in=ids), minutes)
            for minutes, ids in lifetime.items()
        ),
        *(
            (SINGLE_SIGN_ON_MAX_AGE, "started_at", through_provider & Q(tenant_id__in=ids), minutes)
            for minutes, ids in single_sign_on.items()
        ),
        (IDLE, "last_active_at", Q(user__role__isnull=True), DEFAULT_IDLE_TIMEOUT_MINUTES),
        *(
            (IDLE, "last_active_at", Q(user__role_id__in=ids), minutes)
            for minutes, ids in idle.items()
        ),
    ]
    reasons, minutes_by_limit = [], []
    for reason, field, held_by, minutes in limits:
        past = held_by & Q(**{f"{field}__lte": now - timedelta(minutes=minutes)})
        reasons.append(When(past, then=Value(reason)))
        minutes_by_limit.append(When(past, then=Value(minutes)))
    return UserSession.objects.annotate(
        limit_reason=Case(*reasons, output_field=CharField()),
        limit_minutes=Case(*minutes_by_limit, output_field=IntegerField()),
    ).filter(limit_reason__isnull=False)


def sessions_for_user(*, user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user).order_by("-last_active_at", "-id")


def session_for_user_by_id(*, user: User, session_id: int) -> UserSession:
    """One of the person's own sessions; anybody else's is the same 404 as a missing one."""
    session = sessions_for_user(user=user).filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


def remember_browser_days_for(*, user: User) -> int:
    """For how many days this person may have a browser remembered; 0 when not at all.

    Operators (no tenant) always give a code: they hold every tenant's keys.
    """
    return user.tenant.remember_browser_days if user.tenant is not None else 0


def remembered_browsers_for_user(*, user: User) -> QuerySet[RememberedBrowser]:
    """The person's remembered browsers that still skip the second step, newest first: not
    expired, and younger than the tenant's setting now (an owner may have shortened it)."""
    now = timezone.now()
    return RememberedBrowser.objects.filter(
        user=user,
        tenant=user.tenant,
        expires_at__gt=now,
        created_at__gt=now - timedelta(days=remember_browser_days_for(user=user)),
    ).order_by("-created_at", "-id")


def remembered_browser_for_user_by_id(*, user: User, browser_id: int) -> RememberedBrowser:
    """One of the person's own remembered browsers; anybody else's is the same 404 as a missing
    one."""
    browser = RememberedBrowser.objects.filter(user=user, pk=browser_id).first()
    if browser is None:
        raise Http404("No such browser.")
    return browser


def user_scopes(*, user: User) -> frozenset[str]:
    """Every scope the person holds: what they may grant and whom they may manage."""
    if not user.is_active:
        return frozenset()
    if isinstance(user, ServiceActor):
        return user.scopes_held
    if user.is_superuser:
        return scopes.ALL_SCOPES
    return user.role.scope_set if user.role_id else frozenset()


def least_privileged_role(*, roles: Iterable[Role]) -> Role | None:
    """Of `roles`, the one granting least: the fewest scopes, ties broken by name. What a new
    person is given unless whoever adds them chooses otherwise."""
    return min(roles, key=lambda role: (len(role.scope_set), role.name), default=None)


def invitation_lapses_at(*, user: User) -> datetime | None:
    """When the person's invitation lapses, while they are still only invited: they have never
    set a password nor signed in. None for everybody else.

    The latest invitation's set-password link lives INVITATION_TIMEOUT from when it was mailed;
    people invited before that time was kept were mailed as they were added.
    """
    if user.has_usable_password() or user.password_changed_at or user.last_login:
        return None
    sent_at = user.invitation_sent_at or user.date_joined
    return sent_at + timedelta(seconds=settings.INVITATION_TIMEOUT)


def owners_for_tenant(*, tenant: Tenant) -> QuerySet[User]:
    """The tenant's active Owners (their role holds `security:write`): there must always be at
    least one."""
    return people_holding_scope(tenant=tenant, scope_keys=frozenset({scopes.SECURITY_WRITE}))


def people_with_last_activity() -> QuerySet[User]:
    """People annotated with `active_at`: their last sign-in, joining or reactivation.

    A deactivated and reactivated person gets a fresh start, so the latest reactivation counts
    as activity; it is read from the audit trail, where every reactivation is recorded.
    """
    reactivated_at = Subquery(
        AuditEvent.objects.filter(target=OuterRef("pk"), event=AuditEventType.PERSON_REACTIVATED)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return User.objects.annotate(
        active_at=Greatest(
            Coalesce("last_login", "date_joined"),
            Coalesce(reactivated_at, "date_joined"),
        )
    )


def people_holding_scope(
    *, tenant: Tenant | None, scope_keys: frozenset[str], exclude: User | None = None
) -> QuerySet[User]:
    """The active people of a tenant whose role holds any of `scope_keys`."""
    if tenant is None:
        return User.objects.none()
    roles = [role.pk for role in Role.objects.for_tenant(tenant) if role.scope_set & scope_keys]
    people = User.objects.for_tenant(tenant).filter(role__in=roles, is_active=True)
    if exclude is not None:
        people = people.exclude(pk=exclude.pk)
    return people


def unlock_contact_for_tenant(*, tenant: Tenant | None, exclude: User | None = None) -> User | None:
    """Who a person of this tenant should ask to be unlocked: its first active person whose role
    may unlock (normally the Owner who set the tenant up)."""
    return (
        people_holding_scope(
            tenant=tenant, scope_keys=frozenset({scopes.LOCKOUT_UNLOCK}), exclude=exclude
        )
        .order_by("date_joined", "pk")
        .first()
    )


def access_list_allows(
    *, user: User, ip: str | None, now: datetime | None = None, exempt_owner_counts: bool = True
) -> bool:
    """Whether `user`'s tenant lets them in from the client address `ip` now.

    Yes when the tenant's list is off (read from the tenant loaded with the person: no query),
    for operators (no tenant), and for the tenant's exempt Owner while they are an active
    Owner. Otherwise one query: yes when no entry applies to the person's role (entries naming
    no role apply to everybody; an entry naming roles only to them), when an entry that applies
    holds the address, or when the person holds an exception that has not expired. An address
    that can't be read is outside every range.

    `exempt_owner_counts=False` asks about the address alone, as the self-lockout guard does.
    """
    tenant = user.tenant
    if tenant is None or not tenant.access_list_enabled:
        return True
    if (
        exempt_owner_counts
        and user.pk == tenant.access_list_exempt_owner_id
        and user.is_active
        and user.role is not None
        and user.role.is_owner
    ):
        return True
    applicable = AccessListEntry.objects.filter(tenant_id=tenant.pk).filter(
        Q(roles=None) | Q(roles=user.role_id)
    )
    address = client_address_parse(ip)
    holding = (
        applicable.filter(
            version=address.version,
            first_address__lte=address_key(address),
            last_address__gte=address_key(address),
        )
        if address is not None
        else applicable.none()
    )
    excepted = AccessListException.objects.filter(
        user_id=user.pk, tenant_id=tenant.pk, expires_at__gt=now or timezone.now()
    )
    return (
        Tenant.objects.filter(pk=tenant.pk)
        .filter(~Exists(applicable) | Exists(holding) | Exists(excepted))
        .exists()
    )


# An invitation lapsing within this long is a to-do for the owner (config/todos.py).
INVITATION_LAPSING_WITHIN = timedelta(days=2)


def people_invited_lapsing(people: QuerySet[User], *, now: datetime) -> QuerySet[User]:
    """The active people of `people` still only invited (`invitation_lapses_at`, in the
    database) whose invitation lapses within INVITATION_LAPSING_WITHIN or has lapsed."""
    sent_before = now + INVITATION_LAPSING_WITHIN - timedelta(seconds=settings.INVITATION_TIMEOUT)
    return (
        people.filter(
            is_active=True,
            last_login__isnull=True,
            password_changed_at__isnull=True,
            password__startswith=UNUSABLE_PASSWORD_PREFIX,
        )
        .annotate(invited_at=Coalesce("invitation_sent_at", "date_joined"))
        .filter(invited_at__lte=sent_before)
    )
