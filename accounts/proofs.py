"""Secret checks and proofs of identity: the lockout slot every secret check takes, the failed
attempt it counts, and the re-authentication that makes a fresh proof (teams/proofs.py).

Every secret check (the password, a second-factor code, the current password on the change
form, the password and the factor on the proof page) goes through `secret_check`: take a
lockout slot first, check, then settle the slot.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from accounts import lockout
from accounts.alerts import sign_in_failure_burst_check
from accounts.lockout_counters import Lock, email_key
from accounts.models import User
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.proofs import factor_proof_record, password_proof_record
from teams.services.sessions import session_key_cycle


def reauthentication_record(*, request: HttpRequest, factor: str | None = None) -> None:
    """The signed-in person proved who they are again on the proof page: their password and,
    when they have a second factor, that factor (`factor` names its kind).

    Besides the fresh proof, the session gets a new key (ASVS 5.0 V7.2.4: a session that gains
    rights is rekeyed, so an id read before the proof is worth nothing after it), and the proof
    is audited. A wrong password or code is audited as a failure where it is checked.
    """
    user = request.user
    with transaction.atomic():
        password_proof_record(request=request)
        if factor is not None:
            factor_proof_record(request=request)
        session_key_cycle(request=request)
        audit_event_record(
            event=AuditEventType.REAUTHENTICATED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"factor": factor} if factor else None,
        )


@dataclass(frozen=True)
class SecretCheck:
    """How a secret check ended. `refused_by` is a lock that was already in force: then the
    secret was not checked at all. `lock` is the lock in force afterwards, if any."""

    ok: bool
    refused_by: Lock | None = None
    lock: Lock | None = None


def secret_check(
    *,
    request: HttpRequest,
    email: str,
    check: Callable[[], bool],
    failure_event: AuditEventType = AuditEventType.SIGN_IN_FAILED,
    record_failure: bool = True,
    notice_on_refusal: bool = True,
) -> SecretCheck:
    """Take a lockout slot for `email` and the client IP, check the secret, settle the slot.

    The slot comes first, so a burst of parallel guesses checks at most LOCKOUT_FAILURES of
    them, and a right guess inside the burst past the limit is refused unchecked. A right
    secret gives the slot back; a wrong one keeps it and is audited as `failure_event`.
    The password step passes `record_failure=False`: Django's `user_login_failed` signal
    records its failures (accounts/receivers.py). A page that tells a refusal in its own words
    passes `notice_on_refusal=False`; a failure that starts a lock still gets the lock notice.
    """
    refused_by = lockout.attempt_begin(request=request, email=email)
    if refused_by is not None:
        if record_failure:
            sign_in_failure_record(request=request, email=email, event=failure_event)
        if not notice_on_refusal:
            lockout.lock_notice_withdraw(request)
        return SecretCheck(ok=False, refused_by=refused_by, lock=refused_by)
    if check():
        lockout.attempt_succeeded(request=request)
        return SecretCheck(ok=True)
    lock = (
        sign_in_failure_record(request=request, email=email, event=failure_event)
        if record_failure
        else None
    )
    return SecretCheck(ok=False, lock=lock)


def sign_in_failure_record(
    *,
    request: HttpRequest | None,
    email: str,
    event: AuditEventType = AuditEventType.SIGN_IN_FAILED,
    details: dict | None = None,
) -> Lock | None:
    """Count and audit a failed sign-in step against whichever account the email names, if any.

    Both steps fail through here (a wrong password, or `MFA_FAILED` for a wrong code), so both
    count toward the same lock on the email, and on the client IP (accounts/lockout.py). The
    failure that reaches a limit also records the lock. The email as typed is kept (normalised
    and cut to length) so owners can see what was tried, but only when it reads as an email:
    anything else may be a password typed into the wrong box and is kept as a keyed hash
    (`lockout_counters.email_key`). The password or code never is.

    Returns the lock in force after this failure, if any; axes' middleware then answers the
    request with the lock notice.
    """
    tried = email_key(email)
    target = User.objects.filter(email=tried).select_related("tenant").first() if tried else None
    with transaction.atomic():
        outcome = lockout.failure_count(request=request, email=email)
        details = {**(details or {}), "email": tried}
        if not outcome.counted:
            details["refused"] = "locked"
        audit_event_record(
            event=event,
            actor=None,
            tenant=target.tenant if target else None,
            target=target,
            request=request,
            details=details,
        )
        for lock in outcome.new_locks:
            audit_event_record(
                event=AuditEventType.IP_LOCKED if lock.network else AuditEventType.ACCOUNT_LOCKED,
                actor=None,
                tenant=None if lock.network or target is None else target.tenant,
                target=None if lock.network else target,
                request=request,
                details={
                    "until": lock.ends_at.isoformat(),
                    "failures": settings.LOCKOUT_IP_FAILURES
                    if lock.network
                    else settings.LOCKOUT_FAILURES,
                    **({} if lock.network else {"email": tried}),
                },
            )
    sign_in_failure_burst_check(request=request, user=target)
    return outcome.lock
