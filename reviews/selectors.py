"""Reads for access reviews: everybody in a tenant with what a review looks at, and their flags."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCode, BackupCodeDevice, PasskeyDevice
from reviews.models import AccessReview
from teams import scopes
from teams.models import AccessListException, Role, Tenant, UserSession

RECENT_TROUBLE = timedelta(days=7)
MFA_NONE, MFA_APP, MFA_CODES_ONLY = "none", "app", "backup codes only"
MFA_PASSKEY, MFA_PASSKEY_AND_APP = "passkey", "passkey and app"
MFA_STATUSES = (MFA_NONE, MFA_APP, MFA_CODES_ONLY, MFA_PASSKEY, MFA_PASSKEY_AND_APP)
# The statuses are keys (the command's CSV and the filters use them); these are what people read.
MFA_LABELS = {
    MFA_NONE: _("none"),
    MFA_APP: _("app"),
    MFA_CODES_ONLY: _("backup codes only"),
    MFA_PASSKEY: _("passkey"),
    MFA_PASSKEY_AND_APP: _("passkey and app"),
}

FLAG_LABELS = {
    "no_mfa_required": _("no MFA where required"),
    "stale": _("no sign-in for 30+ days"),
    "many_sessions": _("many sessions"),
    "failures": _("recent failed sign-ins"),
    "unusual": _("recent unusual sign-ins"),
    "locked": _("locked"),
    "access_list_exception": _("exception to the IP access list"),
}


@dataclass
class AccessReviewRow:
    person: User
    scope_words: list[str]
    mfa: str
    backup_codes_left: int | None
    sessions: int
    locked: bool
    password_age_days: int | None
    last_sign_in_at: datetime | None
    failures: int
    unusual: int
    flags: list[str] = field(default_factory=list)

    @property
    def flag_labels(self) -> list[str]:
        # Strings, not lazy labels: the plain-text mail joins them with autoescape off, where
        # Django's `join` needs real strings.
        return [str(FLAG_LABELS[flag]) for flag in self.flags]

    @property
    def flag_badges(self) -> list[tuple[str, str]]:
        """(flag, label) pairs: the page styles a badge by its flag, whatever the language."""
        return [(flag, FLAG_LABELS[flag]) for flag in self.flags]

    @property
    def mfa_label(self) -> str:
        return MFA_LABELS[self.mfa]


def _count_of(queryset: QuerySet, *, by: str) -> Coalesce:
    """A correlated count as an annotation: one query however many people there are."""
    counted = queryset.order_by().values(by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def access_review_people(people: QuerySet[User], *, now: datetime) -> QuerySet[User]:
    """`people` with what an access review looks at, as annotations: counts, factors (`mfa`, one
    of `MFA_STATUSES`), the lock, and one boolean `flag_<name>` per flag of
    `FLAG_LABELS` plus `flag_count`.

    The review page, its mail, the command and the admin all read these, so a flag means the
    same everywhere and the admin can filter and sort by it in the database. The counts are
    subqueries of the one people query, so the number of queries does not grow with people.
    """
    since = now - RECENT_TROUBLE

    def events(*kinds):
        return AuditEvent.objects.filter(
            target=OuterRef("pk"), event__in=kinds, created_at__gte=since
        )

    # A stored email is its own lock-counter key (`email_key`): it is stored normalised, and the
    # model refuses the control characters `email_key` would escape.
    lock_counters = AccessAttempt.objects.filter(
        username=OuterRef("email"),
        ip_address__isnull=True,
        expiration__expires_at__gt=now,
        failures_since_start__gte=settings.LOCKOUT_FAILURES,
    )
    counted = people.annotate(
        session_count=_count_of(UserSession.objects.filter(user=OuterRef("pk")), by="user"),
        has_app=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_codes=Exists(BackupCodeDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_passkey=Exists(PasskeyDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        codes_left=_count_of(
            BackupCode.objects.filter(
                device__user=OuterRef("pk"), device__confirmed=True, used_at__isnull=True
            ),
            by="device__user",
        ),
        failure_count=_count_of(
            events(AuditEventType.SIGN_IN_FAILED, AuditEventType.MFA_FAILED), by="target"
        ),
        unusual_count=_count_of(events(AuditEventType.UNUSUAL_SIGN_IN), by="target"),
        locked=Exists(lock_counters),
        has_access_list_exception=Exists(
            AccessListException.objects.filter(user=OuterRef("pk"), expires_at__gt=now)
        ),
        last_seen_at=Coalesce("last_login", "date_joined"),
    ).annotate(
        mfa=Case(
            When(has_passkey=True, has_app=True, then=Value(MFA_PASSKEY_AND_APP)),
            When(has_passkey=True, then=Value(MFA_PASSKEY)),
            When(has_app=True, then=Value(MFA_APP)),
            When(has_codes=True, then=Value(MFA_CODES_ONLY)),
            default=Value(MFA_NONE),
        ),
    )
    stale_before = now - timedelta(days=settings.ACCESS_REVIEW_STALE_DAYS)
    conditions = {
        "no_mfa_required": (Q(tenant__require_mfa=True) | Q(role__require_mfa=True))
        & Q(mfa=MFA_NONE),
        "stale": Q(last_seen_at__lt=stale_before),
        "many_sessions": Q(session_count__gt=settings.ACCESS_REVIEW_MAX_SESSIONS),
        "failures": Q(failure_count__gt=0),
        "unusual": Q(unusual_count__gt=0),
        "locked": Q(locked=True),
        "access_list_exception": Q(has_access_list_exception=True),
    }
    # Deactivated people can't sign in, so nothing about them needs attention.
    raised = {flag: Q(is_active=True) & condition for flag, condition in conditions.items()}
    return counted.annotate(
        **{
            f"flag_{flag}": ExpressionWrapper(condition, output_field=BooleanField())
            for flag, condition in raised.items()
        },
        flag_count=sum(
            (Case(When(condition, then=1), default=0) for condition in raised.values()),
            start=Value(0),
        ),
    )


def access_review_rows(*, tenant: Tenant, now: datetime | None = None) -> list[AccessReviewRow]:
    """Everybody in the tenant with what an access review looks at, and their flags, in a fixed
    number of queries whatever the number of people."""
    now = now or timezone.now()
    people = access_review_people(
        User.objects.for_tenant(tenant).select_related("role", "tenant"), now=now
    ).order_by("email")
    return [access_review_row(person, now=now) for person in people]


def access_review_summary(people: QuerySet[User]) -> dict[str, int]:
    """How many of `people` (annotated by `access_review_people`) there are and how many are
    flagged, counted in the database."""
    return people.aggregate(people=Count("pk"), flagged=Count("pk", filter=Q(flag_count__gt=0)))


def access_review_last(*, tenant: Tenant) -> AccessReview | None:
    return AccessReview.objects.for_tenant(tenant).select_related("reviewer").first()


def scope_words(role: Role | None) -> list[str]:
    """What a role may do, in words."""
    return [
        str(scopes.SCOPES_BY_KEY[key].description) for key in sorted(role.scope_set if role else ())
    ]


def access_review_row(person: User, *, now: datetime) -> AccessReviewRow:
    """One row of the review from a person annotated by `access_review_people`."""
    role = person.role
    changed_at = person.password_changed_at
    return AccessReviewRow(
        person=person,
        scope_words=scope_words(role),
        mfa=person.mfa,
        backup_codes_left=person.codes_left if person.has_codes else None,
        sessions=person.session_count,
        locked=person.locked,
        password_age_days=(now - changed_at).days if changed_at else None,
        last_sign_in_at=person.last_login,
        failures=person.failure_count,
        unusual=person.unusual_count,
        flags=[flag for flag in FLAG_LABELS if getattr(person, f"flag_{flag}")],
    )


FILTERS = {
    "flagged": lambda row: bool(row.flags),
    "no_mfa_required": lambda row: "no_mfa_required" in row.flags,
    "no_mfa": lambda row: row.mfa == MFA_NONE,
    "stale": lambda row: "stale" in row.flags,
    "many_sessions": lambda row: "many_sessions" in row.flags,
    "failures": lambda row: "failures" in row.flags or "unusual" in row.flags,
    "locked": lambda row: row.locked,
    "access_list_exception": lambda row: "access_list_exception" in row.flags,
    "inactive": lambda row: not row.person.is_active,
}
OLDEST = datetime.min.replace(tzinfo=timezone.get_fixed_timezone(0))
SORTS = {
    "email": (lambda row: row.person.email, False),
    "role": (
        lambda row: (row.person.role.name if row.person.role else "", row.person.email),
        False,
    ),
    "last_sign_in": (lambda row: row.last_sign_in_at or OLDEST, False),
    "sessions": (lambda row: row.sessions, True),
    "password_age": (lambda row: row.password_age_days or 0, True),
    "flags": (lambda row: len(row.flags), True),
}


def access_review_filtered(
    rows: list[AccessReviewRow], *, flag: str = "", role_id: int | None = None, sort: str = ""
) -> list[AccessReviewRow]:
    if flag in FILTERS:
        rows = [row for row in rows if FILTERS[flag](row)]
    if role_id:
        rows = [row for row in rows if row.person.role_id == role_id]
    key, reverse = SORTS.get(sort) or SORTS["email"]
    return sorted(rows, key=key, reverse=reverse)


# An access review is due this long after the last one (or after the tenant was made):
# quarterly, as SOC 2 and ISO 27001 auditors usually expect of privileged access.
ACCESS_REVIEW_DUE_AFTER = timedelta(days=90)


def people_missing_required_factor(people: QuerySet[User], *, now: datetime) -> QuerySet[User]:
    """The people of `people` flagged "no MFA where required": the access review's own flag,
    so the dashboard's count and the review it links to agree."""
    return access_review_people(people, now=now).filter(flag_no_mfa_required=True)


def access_review_due_since(*, tenant: Tenant, now: datetime) -> datetime | None:
    """Since when the tenant's access review is due (ACCESS_REVIEW_DUE_AFTER past the last
    review, or past the tenant's making when there was none), or None while it isn't."""
    last = (
        AccessReview.objects.for_tenant(tenant)
        .order_by("-completed_at")
        .values_list("completed_at", flat=True)
        .first()
    )
    due_at = (last or tenant.created_at) + ACCESS_REVIEW_DUE_AFTER
    return due_at if due_at <= now else None
