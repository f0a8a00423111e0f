"""The lockout counters themselves: django-axes' `AccessAttempt` rows, one per email and one per
client IP, and the statements that count, read, give back and clear them.

Rows: an account counter is `(username=<email key>, ip_address=NULL)`, an IP counter is
`(username=NULL, ip_address=<client IP>)`. Each has an `AccessAttemptExpiration`; every counted
failure moves it to `LOCKOUT_MINUTES` from now, and at that time the counter, and any lock, ends.
Attempts refused by a lock are not counted and don't extend it. An expired counter starts again
at 1 in the same row; a counter given back to zero keeps its row until it expires, when the
periodic clean-up (`clean_expired_lockouts`) deletes it.

What it costs (docs/performance.md): taking the slots is one transaction of the counters' lock,
one read of both rows, an INSERT of the rows that don't exist, an UPDATE of those that do and
one upsert of their expirations; on PostgreSQL all of that is one statement in autocommit (the
`lockout_slots_take` function, accounts migration 0014). Giving back takes no lock: every
write of a count is relative to the row it changes (on SQLite a transaction holds the whole
database anyway), so the rows' own locks order them. `accounts.lockout` uses these per request.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessAttemptExpiration
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Case, F, OuterRef, PositiveIntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.dblock import hold_lock
from accounts.models import normalize_email
from audit.services import escape_control_characters

EMAIL_KEY_MAX_LENGTH = 254
TYPED_NAME_SALT = "accounts.lockout_counters.typed_sign_in_name"
# Not an email (no "@"), so it can never be mistaken for, or collide with, an account's email.
TYPED_NAME_HASH_PREFIX = "hmac-sha256:"
ACCOUNT = "account"
NETWORK = "ip"


def plausible_email(normalized: str) -> bool:
    """Whether a typed sign-in name reads as an email address, rather than, say, a password
    typed into the wrong box."""
    try:
        validate_email(normalized)
    except ValidationError:
        return False
    return True


def email_key(email: str) -> str:
    """The counter key of a typed sign-in name, which is also what the audit log keeps of it:
    one counter however the email is cased or padded.

    Only a plausible email is kept as typed. Anything else may be a secret typed into the
    email box, so it is kept as a keyed hash (an HMAC under the SECRET_KEY, cut to 128 bits):
    the same mistyped name still counts against one counter, and its failures still read as
    one name in the trail, but the log never holds the text.
    """
    normalized = normalize_email(email)
    if not normalized or plausible_email(normalized):
        return escape_control_characters(normalized)[:EMAIL_KEY_MAX_LENGTH]
    digest = salted_hmac(TYPED_NAME_SALT, normalized, algorithm="sha256").hexdigest()
    return f"{TYPED_NAME_HASH_PREFIX}{digest[:32]}"


def lock_duration() -> timedelta:
    return timedelta(minutes=settings.LOCKOUT_MINUTES)


@dataclass(frozen=True)
class Lock:
    """A lock in force: when it ends, and whether it is on the client IP rather than an email."""

    ends_at: datetime
    network: bool = False

    def seconds_left(self, now: datetime | None = None) -> int:
        remaining = (self.ends_at - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(remaining))

    def minutes_left(self, now: datetime | None = None) -> int:
        return max(1, math.ceil(self.seconds_left(now) / 60))


@dataclass(frozen=True)
class Counter:
    kind: str
    key: str
    limit: int

    @property
    def lookup(self) -> dict:
        if self.kind == ACCOUNT:
            return {"username": self.key, "ip_address": None}
        return {"username": None, "ip_address": self.key}

    @property
    def lock_name(self) -> str:
        return f"lockout:{self.kind}:{self.key}"


@dataclass
class Attempt:
    """One sign-in attempt's place in its counters, or the lock that refused it."""

    counters: list[Counter]
    numbers: dict[str, int]
    ends_at: datetime | None = None
    refused_by: Lock | None = None
    row_ids: dict[str, int] = field(default_factory=dict)
    # A right secret whose slots wait for `attempt_settle`.
    passed: bool = False

    @property
    def email_key(self) -> str:
        return next((c.key for c in self.counters if c.kind == ACCOUNT), "")

    def locks_if_failed(self) -> list[Lock]:
        """The locks this attempt starts if it fails: those whose last slot it holds."""
        return [
            Lock(self.ends_at, network=counter.kind == NETWORK)
            for counter in self.counters
            if self.numbers.get(counter.kind) == counter.limit
        ]


@dataclass(frozen=True)
class FailureOutcome:
    counted: bool
    new_locks: list[Lock]
    lock: Lock | None


def counters_for(*, email: str, ip: str | None) -> list[Counter]:
    """The email's counter, then the IP's: always taken in this order, so two attempts never wait
    for each other in a cycle. An empty email has no counter of its own (axes #261)."""
    counters = []
    key = email_key(email)
    if key:
        counters.append(Counter(ACCOUNT, key, settings.LOCKOUT_FAILURES))
    if ip:
        counters.append(Counter(NETWORK, ip, settings.LOCKOUT_IP_FAILURES))
    return counters


def _row_counter(row: AccessAttempt, counters: list[Counter]) -> Counter | None:
    for counter in counters:
        if counter.kind == ACCOUNT and row.username == counter.key and row.ip_address is None:
            return counter
        if counter.kind == NETWORK and row.username is None and row.ip_address == counter.key:
            return counter
    return None


def counter_rows(counters: list[Counter]) -> tuple[dict[str, AccessAttempt], list[int]]:
    """Each counter's row, live or not, read in one query; and the ids of any older rows of the
    same counters (axes' own handler could leave some behind), which are past use."""
    if not counters:
        return {}, []
    wanted = Q()
    for counter in counters:
        wanted |= Q(**counter.lookup)
    rows: dict[str, AccessAttempt] = {}
    older = []
    for row in (
        AccessAttempt.objects.filter(wanted)
        .select_related("expiration")
        .order_by("-attempt_time", "-id")
    ):
        counter = _row_counter(row, counters)
        if counter is None:
            continue
        if counter.kind in rows:
            older.append(row.pk)
        else:
            rows[counter.kind] = row
    return rows, older


def is_live(row: AccessAttempt | None, now: datetime) -> bool:
    return row is not None and hasattr(row, "expiration") and row.expiration.expires_at > now


def live_rows(counters: list[Counter], now: datetime) -> dict[str, AccessAttempt]:
    rows, _ = counter_rows(counters)
    return {kind: row for kind, row in rows.items() if is_live(row, now)}


def _lock_of(counter: Counter, row: AccessAttempt | None) -> Lock | None:
    if row is None or row.failures_since_start < counter.limit:
        return None
    return Lock(row.expiration.expires_at, network=counter.kind == NETWORK)


def latest_lock(locks: list[Lock | None]) -> Lock | None:
    return max((lock for lock in locks if lock), key=lambda lock: lock.ends_at, default=None)


def locks_of(counters: list[Counter], live: dict[str, AccessAttempt]) -> list[Lock]:
    return [lock for counter in counters if (lock := _lock_of(counter, live.get(counter.kind)))]


def lock_for(*, email: str, ip: str | None) -> Lock | None:
    """Is this email or client IP locked now, and until when (the later end if both are)?"""
    counters = counters_for(email=email, ip=ip)
    return latest_lock(locks_of(counters, live_rows(counters, timezone.now())))


def email_locked_rows(email: str | OuterRef, now: datetime) -> QuerySet[AccessAttempt]:
    """The lock-counter row that locks `email` now, if any; `OuterRef("email")` makes it a
    subquery per person (a stored email is already its own counter key: stored normalised)."""
    return AccessAttempt.objects.filter(
        username=email,
        ip_address__isnull=True,
        expiration__expires_at__gt=now,
        failures_since_start__gte=settings.LOCKOUT_FAILURES,
    )


def failures_left(*, email: str) -> int:
    """How many more failures this email's counter takes before it locks. It is counted for
    every email typed, with an account or not, so telling it reveals nobody's account."""
    counters = [c for c in counters_for(email=email, ip=None) if c.kind == ACCOUNT]
    if not counters:
        return settings.LOCKOUT_FAILURES
    row = live_rows(counters, timezone.now()).get(ACCOUNT)
    return max(0, settings.LOCKOUT_FAILURES - (row.failures_since_start if row else 0))


def hold(counters: list[Counter]) -> None:
    hold_lock(*(counter.lock_name for counter in counters))


def take_slots(counters: list[Counter], *, path: str = "") -> Attempt:
    """Count one attempt in each counter, unless one of them is locked: then count nothing.

    Under the counters' lock: one read of both rows; one INSERT of the rows that don't exist;
    then one UPDATE of those that do (an expired counter starts again at 1 in its own row) and
    one upsert of every row's expiration. On PostgreSQL all of it is one statement, the
    `lockout_slots_take` function (accounts migration 0014), in place of five.
    """
    if not counters:
        return Attempt(counters=counters, numbers={}, ends_at=timezone.now() + lock_duration())
    if connection.vendor == "postgresql":
        return _take_slots_in_one_statement(counters, path=path)
    with transaction.atomic():
        hold(counters)
        now = timezone.now()
        rows, older = counter_rows(counters)
        live = {kind: row for kind, row in rows.items() if is_live(row, now)}
        refused_by = latest_lock(locks_of(counters, live))
        if refused_by:
            return Attempt(counters=counters, numbers={}, refused_by=refused_by)
        if older:
            AccessAttempt.objects.filter(pk__in=older).delete()
        ends_at = now + lock_duration()
        numbers = {
            counter.kind: live[counter.kind].failures_since_start + 1 if counter.kind in live else 1
            for counter in counters
        }
        created = AccessAttempt.objects.bulk_create(
            AccessAttempt(
                **counter.lookup,
                user_agent="",
                http_accept="",
                path_info=path[:255],
                get_data="",
                post_data="",
                failures_since_start=1,
            )
            for counter in counters
            if counter.kind not in rows
        )
        _count_and_extend_portable(rows, numbers, created, now=now, ends_at=ends_at)
        row_ids = {kind: row.pk for kind, row in rows.items()}
        for row in created:
            row_ids[_row_counter(row, counters).kind] = row.pk
    return Attempt(counters=counters, numbers=numbers, ends_at=ends_at, row_ids=row_ids)


def _take_slots_in_one_statement(counters: list[Counter], *, path: str) -> Attempt:
    """PostgreSQL: the same steps under the same advisory locks, in one round trip. Outside a
    transaction the call is its own, so the locks end when its counts are committed, as the
    portable path's `atomic()` does; inside one they are held until it ends, as there."""
    now = timezone.now()
    ends_at = now + lock_duration()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM lockout_slots_take("
            "%s::text[], %s::text[], %s::text[], %s::integer[], %s::text[], %s, %s, %s)",
            [
                [counter.kind for counter in counters],
                [counter.key if counter.kind == ACCOUNT else None for counter in counters],
                [counter.key if counter.kind == NETWORK else None for counter in counters],
                [counter.limit for counter in counters],
                [counter.lock_name for counter in counters],
                path,
                now,
                ends_at,
            ],
        )
        results = cursor.fetchall()
    locks = [Lock(until, network=kind == NETWORK) for kind, _, _, until in results if until]
    if locks:
        return Attempt(counters=counters, numbers={}, refused_by=latest_lock(locks))
    return Attempt(
        counters=counters,
        numbers={kind: number for kind, _, number, _ in results},
        ends_at=ends_at,
        row_ids={kind: row_id for kind, row_id, _, _ in results},
    )


def _count_and_extend_portable(
    rows: dict[str, AccessAttempt],
    numbers: dict[str, int],
    created: list[AccessAttempt],
    *,
    now: datetime,
    ends_at: datetime,
) -> None:
    """Elsewhere (SQLite, whose transactions hold the whole database): one UPDATE of the rows
    that exist and one upsert of every row's expiration."""
    if rows:
        AccessAttempt.objects.filter(pk__in=[row.pk for row in rows.values()]).update(
            failures_since_start=Case(
                *(When(pk=row.pk, then=Value(numbers[kind])) for kind, row in rows.items()),
                default=F("failures_since_start"),
                output_field=PositiveIntegerField(),
            ),
            attempt_time=now,
        )
    # The expiration's one-to-one key is unique, so one upsert moves or makes them all.
    AccessAttemptExpiration.objects.bulk_create(
        [
            AccessAttemptExpiration(access_attempt_id=row.pk, expires_at=ends_at)
            for row in [*rows.values(), *created]
        ],
        update_conflicts=True,
        unique_fields=["access_attempt"],
        update_fields=["expires_at"],
    )


def slots_return(attempt: Attempt, *, restart_account: bool) -> None:
    """Give back the attempt's slots, or with `restart_account` set its email's counter to
    zero (a completed sign-in). One UPDATE, without the counters' lock: it only lowers them,
    relative to what the rows hold, and `take_slots` counts relative to the rows too, so the
    rows' own locks order the two and neither is lost. Counters at zero keep their row until it
    expires: deleting it would cost more than it saves."""
    account_id = attempt.row_ids.get(ACCOUNT)
    one_back = F("failures_since_start") - 1
    AccessAttempt.objects.filter(
        pk__in=attempt.row_ids.values(), failures_since_start__gt=0
    ).update(
        failures_since_start=Case(
            When(pk=account_id, then=Value(0)),
            default=one_back,
            output_field=PositiveIntegerField(),
        )
        if restart_account and account_id is not None
        else one_back
    )


def give_back(attempt: Attempt) -> None:
    slots_return(attempt, restart_account=False)


def counters_clear(*, email: str = "", ip: str | None = None) -> list[Lock]:
    """Delete the counters of an email and/or an IP; returns the locks that were in force."""
    counters = counters_for(email=email, ip=ip)
    if not counters:
        return []
    with transaction.atomic():
        hold(counters)
        now = timezone.now()
        rows, older = counter_rows(counters)
        locks = locks_of(counters, {kind: row for kind, row in rows.items() if is_live(row, now)})
        ids = [row.pk for row in rows.values()] + older
        if ids:
            AccessAttempt.objects.filter(pk__in=ids).delete()
    return locks
