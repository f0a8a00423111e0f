"""Stale accounts: deactivating people who no longer sign in, and warning them first."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, Exists, OuterRef, QuerySet, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import (
    AuditEventSpec,
    BulkProgress,
    PersonRef,
    TenantRef,
    audit_events_record_bulk,
    garbage_collector_paused,
)
from outbox.links import site_link
from outbox.services import mail_enqueue
from teams.models import INACTIVITY_WARNING_DAYS, RememberedBrowser, Role, Tenant, UserSession
from teams.selectors import people_with_last_activity
from teams.services.common import id_set
from teams.services.sessions import tracked_sessions_delete


@dataclass
class StaleSummary:
    """What a stale-account run did (or would do) in one tenant."""

    tenant: Tenant
    deactivated: list[str] = field(default_factory=list)
    kept_last_owner: list[str] = field(default_factory=list)
    sessions_ended: int = 0


def _candidate_rows(people: QuerySet[User], *, owner_role_ids: set[int]) -> QuerySet:
    """Rows of (id, email, tenant id, role id, last activity), the activity for Owners only:
    it is read for nothing else, and turning 100,000 timestamps into datetimes costs more than
    the query that finds them."""
    return people.annotate(
        owner_active_at=Case(When(role_id__in=owner_role_ids, then="active_at"))
    ).values_list("pk", "email", "tenant_id", "role_id", "owner_active_at")


def _last_owners_to_keep(
    *,
    candidates: list[tuple[int, str, int, int | None, datetime | None]],
    owner_role_ids: set[int],
) -> set[int]:
    """Of the candidates who are Owners, the ones to keep so every tenant keeps an active Owner:
    in a tenant whose every active Owner is a candidate, the most recently active one."""
    stale_owners: dict[int, list[tuple[datetime, int]]] = {}
    for pk, _email, tenant_id, role_id, active_at in candidates:
        if role_id in owner_role_ids:
            stale_owners.setdefault(tenant_id, []).append((active_at, pk))
    if not stale_owners:
        return set()
    active_owners = dict(
        User.objects.filter(role_id__in=owner_role_ids, is_active=True, tenant_id__in=stale_owners)
        .values("tenant_id")
        .annotate(count=Count("pk"))
        .values_list("tenant_id", "count")
    )
    return {
        max(owners)[1]
        for tenant_id, owners in stale_owners.items()
        if active_owners.get(tenant_id, 0) <= len(owners)
    }


def _deactivation_details(*, reason: str, sessions: int, remembered_browsers: int) -> dict:
    details = {"reason": reason, "sessions": sessions}
    if remembered_browsers:
        details["remembered_browsers"] = remembered_browsers
    return details


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
    progress: BulkProgress | None = None,
) -> list[StaleSummary]:
    """Deactivate everybody with no sign-in (joining or reactivation) in the last `days` days.

    Operators are never touched, and a tenant keeps its last active Owner. Sessions end, and
    each person gets one PERSON_DEACTIVATED event. The work is a fixed number of statements
    whatever the number of people. With `warned_for_days`, only people warned at least that long
    ago (and since they were last active) are deactivated. Running it again changes nothing.
    """
    if days < 1:
        raise ValidationError(_("The number of days must be at least 1."), code="days")
    now = now or timezone.now()
    people = _stale_people(now=now, days=days, tenant=tenant, warned_for_days=warned_for_days)
    owner_role_ids = set(Role.objects.owner().values_list("pk", flat=True))
    with garbage_collector_paused(), transaction.atomic():
        candidates = list(
            _candidate_rows(
                (people if dry_run else people.select_for_update(of=("self",))).order_by(
                    "tenant_id", "email"
                ),
                owner_role_ids=owner_role_ids,
            )
        )
        kept = _last_owners_to_keep(candidates=candidates, owner_role_ids=owner_role_ids)
        # The rows just locked, by id: the stale-people query isn't run a second time.
        chosen = id_set([pk for pk, *_ in candidates if pk not in kept])
        sessions_ended: Counter[int] = Counter()
        if progress is not None:
            progress(stage="deactivating people", done=0, total=len(candidates) - len(kept))
        if not dry_run and len(candidates) > len(kept):
            tracked = UserSession.objects.filter(user_id__in=chosen)
            sessions_ended.update(user_id for user_id, _ in tracked_sessions_delete(tracked))
            browsers = RememberedBrowser.objects.filter(user_id__in=chosen)
            browsers_forgotten = Counter(browsers.values_list("user_id", flat=True))
            browsers.delete()
            reason = f"no sign-in for {days} days"
            audit_events_record_bulk(
                [
                    AuditEventSpec(
                        AuditEventType.PERSON_DEACTIVATED,
                        TenantRef(tenant_id),
                        target=PersonRef(pk, email),
                        details=_deactivation_details(
                            reason=reason,
                            sessions=sessions_ended.get(pk, 0),
                            remembered_browsers=browsers_forgotten.get(pk, 0),
                        ),
                    )
                    for pk, email, tenant_id, _, _ in candidates
                    if pk not in kept
                ],
                progress=progress,
                meanwhile=lambda: User.objects.filter(pk__in=chosen).update(
                    is_active=False, deactivated_at=timezone.now()
                ),
            )
    tenants = Tenant.objects.in_bulk({tenant_id for _, _, tenant_id, _, _ in candidates})
    summaries: dict[int, StaleSummary] = {}
    if tenant is not None:
        summaries[tenant.pk] = StaleSummary(tenant=tenant)
    for pk, email, tenant_id, _role_id, _active_at in candidates:
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
    with garbage_collector_paused(), transaction.atomic():
        # Two runs at once (a beat takeover) take turns here, and the second one's query, run
        # after the first committed, sees its warnings: nobody is mailed twice. NO KEY, so rows
        # naming the tenant (sign-ins, events) are not held up meanwhile.
        Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).exists()
        candidates = list(_candidate_rows(people.order_by("email"), owner_role_ids=owner_role_ids))
        kept = _last_owners_to_keep(candidates=candidates, owner_role_ids=owner_role_ids)
        warned = [row for row in candidates if row[0] not in kept]
        deactivate_on = (now + timedelta(days=INACTIVITY_WARNING_DAYS)).date()
        sign_in_url = site_link("accounts:login")
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
