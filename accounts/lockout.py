"""Sign-in lockout: one failure counter per email and one per client IP, counted in the database.

The counters are django-axes' `AccessAttempt` rows, so axes' admin lists them and its
`axes_reset`, `axes_reset_username` and `axes_reset_ip` commands clear them. The counting is
ours, because axes' own database handler falls short of what a lockout must guarantee:

- it reads the count, lets the password be tried, and counts the failure afterwards, so a
  burst of parallel requests all pass the read (axes #592, #784);
- it keys attempts on the username as typed, and an empty username can become one lock shared
  by everybody (axes #261);
- it has one limit for every parameter, and without a cool-off its locks are permanent.

Here every sign-in attempt takes a numbered slot in its counters, under a lock on each counter
(`accounts.dblock.hold_lock`), before its password is checked: at most `LOCKOUT_FAILURES`
attempts for an email are ever tried, however many arrive at once. A right password gives its
slot back; a wrong one keeps it. Other failed steps (a wrong MFA code) take their slot when
they fail, through `accounts.services.sign_in_failure_record`, which counts for both steps.

Rows: an account counter is `(username=<email key>, ip_address=NULL)`, an IP counter is
`(username=NULL, ip_address=<client IP>)`. Each has an `AccessAttemptExpiration`; every counted
failure moves it to `LOCKOUT_MINUTES` from now, and at that time the counter, and any lock, ends.
Attempts refused by a lock are not counted and don't extend it.

For the other sign-in steps: `lock_for(email=, ip=)` answers "is this account or IP locked, and
until when?"; `attempt_begin` / `attempt_succeeded` give a step the same slot-first protection
as the password step, and `sign_in_failure_record` then counts a failure once.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt, AccessAttemptExpiration
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.dblock import hold_lock
from accounts.models import User, normalize_email
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record, escape_control_characters

EMAIL_KEY_MAX_LENGTH = 254
ACCOUNT = "account"
NETWORK = "ip"
# The attempt in progress on a request, between its slot and its outcome.
REQUEST_ATTRIBUTE = "sign_in_attempt"


def email_key(email: str) -> str:
    """The counter key of an email: one counter however the email is cased or padded."""
    return escape_control_characters(normalize_email(email))[:EMAIL_KEY_MAX_LENGTH]


def email_key_from_credentials(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: axes names attempts by the same key as the counters."""
    typed = (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD)
    if typed is None and request is not None:
        typed = request.POST.get(settings.AXES_USERNAME_FORM_FIELD)
    return email_key(str(typed or "")) or None


def account_failure_limit(request: HttpRequest | None, credentials: dict | None) -> int:
    """AXES_FAILURE_LIMIT."""
    return settings.LOCKOUT_FAILURES


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


def _live_row(counter: Counter, now: datetime) -> AccessAttempt | None:
    return (
        AccessAttempt.objects.filter(**counter.lookup, expiration__expires_at__gt=now)
        .select_related("expiration")
        .order_by("-attempt_time")
        .first()
    )


def _lock_of(counter: Counter, row: AccessAttempt | None) -> Lock | None:
    if row is None or row.failures_since_start < counter.limit:
        return None
    return Lock(row.expiration.expires_at, network=counter.kind == NETWORK)


def _latest(locks: list[Lock | None]) -> Lock | None:
    return max((lock for lock in locks if lock), key=lambda lock: lock.ends_at, default=None)


def lock_for(*, email: str, ip: str | None) -> Lock | None:
    """Is this email or client IP locked now, and until when (the later end if both are)?"""
    now = timezone.now()
    return _latest(
        [_lock_of(counter, _live_row(counter, now)) for counter in counters_for(email=email, ip=ip)]
    )


def _take_slots(counters: list[Counter], *, path: str = "") -> Attempt:
    """Count one attempt in each counter, unless one of them is locked: then count nothing."""
    with transaction.atomic():
        for counter in counters:
            hold_lock(counter.lock_name)
        now = timezone.now()
        rows = {counter.kind: _live_row(counter, now) for counter in counters}
        refused_by = _latest([_lock_of(counter, rows[counter.kind]) for counter in counters])
        if refused_by:
            return Attempt(counters=counters, numbers={}, refused_by=refused_by)
        ends_at = now + lock_duration()
        numbers = {}
        for counter in counters:
            row = rows[counter.kind]
            if row is None:
                AccessAttempt.objects.filter(**counter.lookup).delete()
                row = AccessAttempt.objects.create(
                    **counter.lookup,
                    user_agent="",
                    http_accept="",
                    path_info=path[:255],
                    get_data="",
                    post_data="",
                    failures_since_start=1,
                )
                AccessAttemptExpiration.objects.create(access_attempt=row, expires_at=ends_at)
                numbers[counter.kind] = 1
            else:
                AccessAttempt.objects.filter(pk=row.pk).update(
                    failures_since_start=F("failures_since_start") + 1, attempt_time=now
                )
                AccessAttemptExpiration.objects.filter(access_attempt=row).update(
                    expires_at=ends_at
                )
                numbers[counter.kind] = row.failures_since_start + 1
    return Attempt(counters=counters, numbers=numbers, ends_at=ends_at)


def _give_back(attempt: Attempt) -> None:
    with transaction.atomic():
        for counter in attempt.counters:
            hold_lock(counter.lock_name)
        for counter in attempt.counters:
            rows = AccessAttempt.objects.filter(**counter.lookup)
            rows.filter(failures_since_start__gt=0).update(
                failures_since_start=F("failures_since_start") - 1
            )
            rows.filter(failures_since_start=0).delete()


def _flag_locked(request: HttpRequest | None, lock: Lock | None) -> None:
    """Tell axes' middleware to answer with the lock notice (AXES_LOCKOUT_CALLABLE)."""
    if request is not None and lock is not None:
        request.axes_locked_out = True
        request.lockout = lock


def lock_notice_withdraw(request: HttpRequest) -> None:
    """Let the page answer a refused attempt itself (a form error) instead of the lock notice."""
    request.axes_locked_out = False


def attempt_begin(*, request: HttpRequest, email: str) -> Lock | None:
    """Take this request's slot for one attempt before its secret is checked.

    Returns the lock that refuses the attempt, if any; then nothing was counted and the secret
    must not be checked. Otherwise the attempt counts as failed until `attempt_succeeded`.
    """
    attempt = _take_slots(counters_for(email=email, ip=client_ip(request)), path=request.path_info)
    setattr(request, REQUEST_ATTRIBUTE, attempt)
    _flag_locked(request, attempt.refused_by)
    return attempt.refused_by


def attempt_succeeded(*, request: HttpRequest) -> None:
    """The secret was right: give back the slot `attempt_begin` took for this request."""
    attempt = getattr(request, REQUEST_ATTRIBUTE, None)
    if attempt is not None:
        delattr(request, REQUEST_ATTRIBUTE)
        if attempt.refused_by is None:
            _give_back(attempt)


def failure_count(*, request: HttpRequest | None, email: str) -> FailureOutcome:
    """Count one failed sign-in step for an email and the request's client IP.

    A step that began with `attempt_begin` already holds its slot, so its failure is not
    counted twice; any other failure takes its slot now. `counted` is False when a lock already
    in force refused the attempt.
    """
    attempt = getattr(request, REQUEST_ATTRIBUTE, None) if request is not None else None
    if attempt is not None:
        delattr(request, REQUEST_ATTRIBUTE)
    if attempt is None or attempt.email_key != email_key(email):
        ip = client_ip(request) if request is not None else None
        path = request.path_info if request is not None else ""
        attempt = _take_slots(counters_for(email=email, ip=ip), path=path)
    if attempt.refused_by:
        _flag_locked(request, attempt.refused_by)
        return FailureOutcome(counted=False, new_locks=[], lock=attempt.refused_by)
    new_locks = attempt.locks_if_failed()
    lock = _latest(new_locks)
    _flag_locked(request, lock)
    return FailureOutcome(counted=True, new_locks=new_locks, lock=lock)


def counters_clear(*, email: str = "", ip: str | None = None) -> list[Lock]:
    """Delete the counters of an email and/or an IP; returns the locks that were in force."""
    counters = counters_for(email=email, ip=ip)
    with transaction.atomic():
        for counter in counters:
            hold_lock(counter.lock_name)
        now = timezone.now()
        locks = [_lock_of(counter, _live_row(counter, now)) for counter in counters]
        for counter in counters:
            AccessAttempt.objects.filter(**counter.lookup).delete()
    return [lock for lock in locks if lock]


class LockoutHandler(AxesDatabaseHandler):
    """axes' handler API (AXES_HANDLER) over the counters above.

    Counting happens in the sign-in backend and `sign_in_failure_record`, not in axes' signal
    receivers, so the receivers do nothing here; the read and reset methods serve axes'
    helpers, admin and commands.
    """

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        return None

    def user_logged_in(self, sender, request, user, **kwargs) -> None:
        return None

    def user_logged_out(self, sender, request, user, **kwargs) -> None:
        return None

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        email = get_client_username(request, credentials) or ""
        return lock_for(email=email, ip=getattr(request, "axes_ip_address", None)) is not None

    def get_failures(self, request, credentials: dict | None = None) -> int:
        email = get_client_username(request, credentials) or ""
        now = timezone.now()
        rows = [
            _live_row(counter, now)
            for counter in counters_for(email=email, ip=getattr(request, "axes_ip_address", None))
        ]
        return max((row.failures_since_start for row in rows if row), default=0)

    def reset_attempts(
        self,
        *,
        ip_address: str | None = None,
        username: str | None = None,
        ip_or_username: bool = False,
    ) -> int:
        """`axes_reset`, `axes_reset_username`, `axes_reset_ip`: each lock ended is audited."""
        key = email_key(username) if username else None
        rows = AccessAttempt.objects.all()
        # A counter is an email's or an IP's, never a pair's, so "this IP and this username"
        # clears both, the same as "either".
        if key or ip_address:
            wanted = Q()
            if key:
                wanted |= Q(username=key)
            if ip_address:
                wanted |= Q(ip_address=ip_address)
            rows = rows.filter(wanted)
        now = timezone.now()
        with transaction.atomic():
            locked = [
                row
                for row in rows.select_related("expiration")
                if hasattr(row, "expiration")
                and row.expiration.expires_at > now
                and row.failures_since_start
                >= (settings.LOCKOUT_FAILURES if row.username else settings.LOCKOUT_IP_FAILURES)
            ]
            _, deleted = rows.delete()
            for row in locked:
                unlock_record(email=row.username or "", ip=row.ip_address, actor=None)
        return deleted.get(AccessAttempt._meta.label, 0)


def unlock_record(*, email: str, ip: str | None, actor: User | None, request=None) -> None:
    """Audit the end of a lock before its time: an account's, or a client IP's."""
    if email:
        target = User.objects.filter(email=email).select_related("tenant").first()
        audit_event_record(
            event=AuditEventType.ACCOUNT_UNLOCKED,
            actor=actor,
            tenant=target.tenant if target else None,
            target=target,
            request=request,
            details={"email": email},
        )
    else:
        audit_event_record(
            event=AuditEventType.IP_UNLOCKED,
            actor=actor,
            tenant=None,
            request=request,
            details={"ip": ip},
        )
