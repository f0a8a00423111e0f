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

How the rows are counted, and what it costs: `accounts/lockout_counters.py`.

For the other sign-in steps: `lock_for(email=, ip=)` answers "is this account or IP locked, and
until when?"; `attempt_begin` / `attempt_succeeded` give a step the same slot-first protection
as the password step, and `sign_in_failure_record` then counts a failure once.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.lockout_counters import (
    FailureOutcome,
    Lock,
    counters_for,
    email_key,
    give_back,
    latest_lock,
    live_rows,
    lock_for,
    slots_return,
    take_slots,
)
from accounts.models import User
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record

# The attempt in progress on a request, between its slot and its outcome.
REQUEST_ATTRIBUTE = "sign_in_attempt"
SETTLE_LATER_ATTRIBUTE = "sign_in_attempt_settle_later"


def email_key_from_credentials(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: axes names attempts by the same key as the counters."""
    typed = (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD)
    if typed is None and request is not None:
        typed = request.POST.get(settings.AXES_USERNAME_FORM_FIELD)
    return email_key(str(typed or "")) or None


def account_failure_limit(request: HttpRequest | None, credentials: dict | None) -> int:
    """AXES_FAILURE_LIMIT."""
    return settings.LOCKOUT_FAILURES


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
    attempt = take_slots(counters_for(email=email, ip=client_ip(request)), path=request.path_info)
    setattr(request, REQUEST_ATTRIBUTE, attempt)
    _flag_locked(request, attempt.refused_by)
    return attempt.refused_by


def attempt_settle_later(request: HttpRequest) -> None:
    """This request's sign-in settles a right secret's slot itself, with `attempt_settle` in
    the transaction that completes the sign-in or leaves it pending, instead of giving it back
    in a transaction of its own. A right secret whose sign-in never gets there keeps its slot,
    as a failure would."""
    setattr(request, SETTLE_LATER_ATTRIBUTE, True)


def attempt_succeeded(*, request: HttpRequest) -> None:
    """The secret was right: give back the slot `attempt_begin` took for this request (or,
    after `attempt_settle_later`, leave it to `attempt_settle`)."""
    attempt = getattr(request, REQUEST_ATTRIBUTE, None)
    if attempt is None:
        return
    if attempt.refused_by is None and getattr(request, SETTLE_LATER_ATTRIBUTE, False):
        attempt.passed = True
        return
    delattr(request, REQUEST_ATTRIBUTE)
    if attempt.refused_by is None:
        give_back(attempt)


def attempt_settle(*, request: HttpRequest, email: str, restart_account: bool) -> None:
    """Settle this request's right secret inside the caller's transaction: give back its slots,
    and with `restart_account` (a completed sign-in) start the email's counter again from zero.

    Without a slot left to settle (the secret was checked by an earlier request) only the
    restart is done. Costs one UPDATE (see `slots_return` for why it needs no lock).
    """
    attempt = getattr(request, REQUEST_ATTRIBUTE, None)
    if attempt is not None and attempt.passed and attempt.email_key == email_key(email):
        delattr(request, REQUEST_ATTRIBUTE)
        slots_return(attempt, restart_account=restart_account)
    elif restart_account:
        counters = counters_for(email=email, ip=None)
        if counters:
            AccessAttempt.objects.filter(**counters[0].lookup, failures_since_start__gt=0).update(
                failures_since_start=0
            )


def failure_count(*, request: HttpRequest | None, email: str) -> FailureOutcome:
    """Count one failed sign-in step for an email and the request's client IP.

    A step that began with `attempt_begin` already holds its slot, so its failure is not
    counted twice; any other failure takes its slot now. `counted` is False when a lock already
    in force refused the attempt.
    """
    attempt = getattr(request, REQUEST_ATTRIBUTE, None) if request is not None else None
    if attempt is not None:
        delattr(request, REQUEST_ATTRIBUTE)
    if attempt is None or attempt.passed or attempt.email_key != email_key(email):
        ip = client_ip(request) if request is not None else None
        path = request.path_info if request is not None else ""
        attempt = take_slots(counters_for(email=email, ip=ip), path=path)
    if attempt.refused_by:
        _flag_locked(request, attempt.refused_by)
        return FailureOutcome(counted=False, new_locks=[], lock=attempt.refused_by)
    new_locks = attempt.locks_if_failed()
    lock = latest_lock(new_locks)
    _flag_locked(request, lock)
    return FailureOutcome(counted=True, new_locks=new_locks, lock=lock)


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
        counters = counters_for(email=email, ip=getattr(request, "axes_ip_address", None))
        rows = live_rows(counters, timezone.now()).values()
        return max((row.failures_since_start for row in rows), default=0)

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
