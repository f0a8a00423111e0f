from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, Least
from django.http import Http404

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams import scopes
from teams.models import Role, Tenant, UserSession

# Operators have no role; their sessions follow the same defaults as a new role's.
DEFAULT_IDLE_TIMEOUT_MINUTES: int = Role._meta.get_field("idle_timeout_minutes").default
DEFAULT_SESSION_LIFETIME_MINUTES: int = Role._meta.get_field("session_lifetime_minutes").default
DEFAULT_MAX_SESSIONS: int = Role._meta.get_field("max_sessions").default

# The built-in Owner role of a tenant, as a lookup on people.
HOLDS_OWNER_ROLE = Q(role__is_builtin=True, role__name=scopes.OWNER.name)


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta
    lifetime: timedelta
    max_sessions: int


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
    )


def _stricter_minutes_expression(field: str, default: int):
    """`_stricter` in SQL, over a UserSession's person's role and the session's tenant."""
    role_value = Coalesce(F(f"user__role__{field}"), Value(default))
    return Least(role_value, Coalesce(F(f"tenant__{field}"), role_value))


def sessions_past_limits(*, now: datetime) -> dict[str, QuerySet[UserSession]]:
    """Tracked sessions that are over their idle timeout or lifetime, by reason.

    The same rule as `session_policy_for_user`, computed by the database so expiry needs no
    query per session. A session over both limits is counted once, as past its lifetime.
    """
    minute = Value(timedelta(minutes=1))
    sessions = UserSession.objects.annotate(
        idle_ends_at=ExpressionWrapper(
            F("last_active_at")
            + _stricter_minutes_expression("idle_timeout_minutes", DEFAULT_IDLE_TIMEOUT_MINUTES)
            * minute,
            output_field=DateTimeField(),
        ),
        lifetime_ends_at=ExpressionWrapper(
            F("started_at")
            + _stricter_minutes_expression(
                "session_lifetime_minutes", DEFAULT_SESSION_LIFETIME_MINUTES
            )
            * minute,
            output_field=DateTimeField(),
        ),
    )
    return {
        "lifetime": sessions.filter(lifetime_ends_at__lte=now),
        "idle": sessions.filter(idle_ends_at__lte=now, lifetime_ends_at__gt=now),
    }


def sessions_for_user(*, user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user).order_by("-last_active_at", "-id")


def session_for_user_by_id(*, user: User, session_id: int) -> UserSession:
    """One of the person's own sessions; anybody else's is the same 404 as a missing one."""
    session = sessions_for_user(user=user).filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


def user_scopes(*, user: User) -> frozenset[str]:
    """Every scope the person holds: what they may grant and whom they may manage."""
    if not user.is_active:
        return frozenset()
    if user.is_superuser:
        return scopes.ALL_SCOPES
    return user.role.scope_set if user.role_id else frozenset()


def owners_for_tenant(*, tenant: Tenant) -> QuerySet[User]:
    """The tenant's active Owners: there must always be at least one."""
    return User.objects.for_tenant(tenant).filter(HOLDS_OWNER_ROLE, is_active=True)


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


def inactivity_warning_since_activity() -> Exists:
    """Whether the person was warned of deactivation since they were last active."""
    return Exists(
        AuditEvent.objects.filter(
            target=OuterRef("pk"),
            event=AuditEventType.INACTIVITY_WARNING_SENT,
            created_at__gte=OuterRef("active_at"),
        )
    )
