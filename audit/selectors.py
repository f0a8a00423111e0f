from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.models import User
from audit.devices import Device, device_from_user_agent
from audit.events import REFUSAL_EVENTS, AuditEventType
from audit.models import AuditDelivery, AuditEvent, AuditWebhook
from teams.models import Tenant

SIGN_IN_HISTORY_EVENTS = (
    AuditEventType.SIGN_IN_SUCCEEDED,
    AuditEventType.SIGN_IN_FAILED,
    AuditEventType.MFA_FAILED,
    AuditEventType.ACCOUNT_LOCKED,
    AuditEventType.FAILURE_BURST,
    AuditEventType.SSO_SIGN_IN_FAILED,
    AuditEventType.SSO_PASSWORD_REFUSED,
)
SUCCESS_EVENTS = (AuditEventType.SIGN_IN_SUCCEEDED,)


class CappedPaginator(Paginator):
    """A paginator that counts at most `cap` rows.

    Counting a million matching events takes longer than showing a page of them; nobody pages
    through more than `cap` rows, they narrow the filters. Page numbers past the cap (or junk)
    land on the last page or the first, never an error.
    """

    def __init__(self, object_list, per_page: int, *, cap: int = 10_000) -> None:
        super().__init__(object_list, per_page)
        self.cap = cap

    @cached_property
    def _bounded_count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            # Unordered, so PostgreSQL reads any index the filters match, month after month,
            # instead of merging the months in time order (or sorting them) to count them.
            return self.object_list.order_by()[: self.cap + 1].count()
        return self.object_list.count_up_to(self.cap + 1)

    @cached_property
    def count(self) -> int:
        return min(self._bounded_count, self.cap)

    @property
    def capped(self) -> bool:
        return self._bounded_count > self.cap


class PersonTrail:
    """The trail of events a person did or that were done to them, newest first.

    `actor = p OR target = p` can't walk an index in time order, so the database would fetch
    and sort every matching row (about 270 ms for 40,000 of them) before returning the first
    page. Each side alone walks its own (tenant, actor|target, created_at, id) index in order;
    reading both sides' first N keys and merging them here gives the same page in a few
    milliseconds. Sliceable and countable, for `CappedPaginator`.
    """

    ORDER = ("-created_at", "-id")

    def __init__(self, events: QuerySet[AuditEvent], person: User) -> None:
        self.events = events
        self.sides = (events.filter(actor=person), events.filter(target=person))

    def count_up_to(self, limit: int) -> int:
        if any(side.order_by()[:limit].count() >= limit for side in self.sides):
            return limit
        ids: set[int] = set()
        for side in self.sides:
            ids.update(side.order_by().values_list("id", flat=True)[:limit])
        return min(len(ids), limit)

    def __getitem__(self, window: slice) -> list[AuditEvent]:
        start, stop = window.start or 0, window.stop
        keys: set[tuple] = set()
        for side in self.sides:
            keys.update(side.order_by(*self.ORDER).values_list("created_at", "id")[:stop])
        page = sorted(keys, reverse=True)[start:stop]
        if not page:
            return []
        ids = [pk for _, pk in page]
        # The page's times bound the read, so PostgreSQL looks the ids up in the months they
        # fall in only, not in every month's index.
        span = self.events.filter(created_at__gte=page[-1][0], created_at__lte=page[0][0])
        by_id = span.in_bulk(ids)
        return [by_id[pk] for pk in ids]


def audit_trail(
    *,
    viewer: User,
    tenant: Tenant | None = None,
    event: int | None = None,
    person: User | None = None,
    ip: str | None = None,
    since: date | None = None,
    until: date | None = None,
    refused: bool = False,
) -> QuerySet[AuditEvent]:
    """The trail a person may read, newest first, narrowed by the filters given.

    `person` matches events they did or that were done to them. `refused` keeps the refused
    requests only (`REFUSAL_EVENTS`). Dates are whole UTC days, both ends included. See
    `audit_trail_page_source` for paging through it quickly.
    """
    events = AuditEvent.objects.visible_to(viewer).select_related("tenant")
    if tenant is not None:
        events = events.for_tenant(tenant)
    if event is not None:
        events = events.filter(event=event)
    if refused:
        events = events.filter(event__in=REFUSAL_EVENTS)
    if person is not None:
        events = events.filter(Q(actor=person) | Q(target=person))
    if ip:
        events = events.filter(ip=ip)
    if since is not None:
        events = events.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:
        events = events.filter(created_at__lte=datetime.combine(until, time.max, tzinfo=UTC))
    return events.order_by("-created_at", "-id")


@dataclass(frozen=True)
class SignInRow:
    event: AuditEvent
    device: Device
    unusual: bool
    reported: bool


def sign_ins_for_user(*, user: User) -> QuerySet[AuditEvent]:
    """A person's own sign-in history: successes and failures against their account."""
    return AuditEvent.objects.filter(target=user, event__in=SIGN_IN_HISTORY_EVENTS).order_by(
        "-created_at", "-id"
    )


def sign_in_rows(*, user: User, events: list[AuditEvent]) -> list[SignInRow]:
    """One page of sign-ins, each with its device in words and whether it was flagged."""
    ids = [event.pk for event in events if event.event in SUCCESS_EVENTS]
    flags = AuditEvent.objects.filter(
        target=user,
        event__in=[AuditEventType.UNUSUAL_SIGN_IN, AuditEventType.SIGN_IN_REPORTED],
        details__sign_in__in=ids,
    ).values_list("event", "details")
    unusual, reported = set(), set()
    for kind, details in flags:
        (unusual if kind == AuditEventType.UNUSUAL_SIGN_IN else reported).add(details["sign_in"])
    return [
        SignInRow(
            event=event,
            device=device_from_user_agent(event.user_agent),
            unusual=event.pk in unusual,
            reported=event.pk in reported,
        )
        for event in events
    ]


def audit_trail_page_source(*, viewer: User, **filters) -> "QuerySet[AuditEvent] | PersonTrail":
    """The trail for page-by-page reading: a person filter reads as a `PersonTrail`."""
    person = filters.pop("person", None)
    events = audit_trail(viewer=viewer, **filters)
    return PersonTrail(events, person) if person is not None else events


# --- shipping: where delivery to a webhook or the syslog receiver stands


def delivery_for_webhook(*, webhook: AuditWebhook) -> AuditDelivery | None:
    """The webhook's cursor: how far its tenant's chain has reached it."""
    return AuditDelivery.objects.filter(webhook=webhook).first()


def webhooks_failing(*, viewer: User) -> QuerySet[AuditWebhook]:
    """The webhooks `viewer` may see whose last try failed, with their cursor's state as
    `failing_since`, `failure_kind`, `failure_status` and `attempts` annotations."""
    cursor = AuditDelivery.objects.filter(webhook=OuterRef("pk"))
    return (
        AuditWebhook.objects.visible_to(viewer)
        .annotate(
            attempts=Subquery(cursor.values("attempts")[:1]),
            failing_since=Subquery(cursor.values("failing_since")[:1]),
            failure_kind=Subquery(cursor.values("failure_kind")[:1]),
            failure_status=Subquery(cursor.values("failure_status")[:1]),
        )
        .filter(attempts__gt=0)
        .order_by("failing_since", "pk")
    )


def syslog_deliveries_failing() -> QuerySet[AuditDelivery]:
    """The operator's syslog receiver's cursors whose last try failed, the longest failing
    first: the receiver is one for the whole platform, so this is for operators only."""
    return AuditDelivery.objects.filter(
        destination=AuditDelivery.Destination.SYSLOG, attempts__gt=0
    ).order_by("failing_since", "pk")


@dataclass(frozen=True)
class WebhookTest:
    """The latest test event sent to a webhook, and whether the webhook has taken it."""

    event: AuditEvent
    delivered: bool


def webhook_test_last(
    *, webhook: AuditWebhook, delivery: AuditDelivery | None
) -> WebhookTest | None:
    event = (
        AuditEvent.objects.filter(
            tenant_id=webhook.tenant_id, event=AuditEventType.AUDIT_WEBHOOK_TEST_SENT
        )
        .order_by("-sequence")
        .first()
    )
    if event is None:
        return None
    delivered = delivery is not None and delivery.delivered_sequence >= event.sequence
    return WebhookTest(event=event, delivered=delivered)
