import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import lockout, tasks
from accounts.alerts import sign_in_failure_burst_check, sign_in_unusual_check
from accounts.dblock import hold_lock
from accounts.lockout import Lock
from accounts.models import PasswordResetRequest, User, normalize_email
from accounts.stages import sign_in_step_due
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.services import audit_event_record
from outbox.models import OutboxMail
from outbox.services import mail_enqueue, task_queue_on_commit
from teams import scopes
from teams.models import UserSession
from teams.rules import refuse_other_tenant
from teams.selectors import unlock_contact_for_tenant
from teams.services.people import set_password_mail_context
from teams.services.sessions import (
    session_forget,
    session_key_moved,
    session_track,
    user_sessions_end,
)

logger = logging.getLogger(__name__)

EMAIL_LABEL_MAX_LENGTH = 254
RESET_WINDOW = timedelta(hours=1)
RESET_REQUEST_KEEP = timedelta(days=1)
RESET_MAIL_KIND = "password_reset"


def user_sign_in(*, request: HttpRequest, user: User) -> str | None:
    """Start a session after a correct password; Django's login() rotates the session key.

    Returns the address of the step still due (the second factor, or enrolling one when MFA is
    required), or None when the password completes the sign-in.
    """
    with transaction.atomic():
        login(request, user)
        session_track(request=request, user=user)
        step_due = sign_in_step_due(request=request, user=user)
        if step_due is None:
            user_sign_in_complete(request=request, user=user, second_factor=None)
    return step_due


def user_sign_in_complete(*, request: HttpRequest, user: User, second_factor: str | None) -> None:
    """The one moment a sign-in is complete: right after the password for people with no
    second step due, or when the second step (or a required enrolment) succeeds.

    Whatever must happen once per completed sign-in hooks here and nowhere else. The account's
    failure counter starts again only now: a right password alone must not restart the count of
    guessed codes.
    """
    with transaction.atomic():
        lockout.counters_clear(email=user.email)
        audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"second_factor": second_factor or "none"},
        )
        sign_in_unusual_check(request=request, user=user)


def sign_in_failure_record(
    *,
    request: HttpRequest | None,
    email: str,
    event: AuditEventType = AuditEventType.SIGN_IN_FAILED,
) -> Lock | None:
    """Count and audit a failed sign-in step against whichever account the email names, if any.

    Both steps fail through here (a wrong password, or `MFA_FAILED` for a wrong code), so both
    count toward the same lock on the email, and on the client IP (accounts/lockout.py). The
    failure that reaches a limit also records the lock. The email as typed is kept (normalised
    and cut to length) so owners can see what was tried; the password or code never is.

    Returns the lock in force after this failure, if any; axes' middleware then answers the
    request with the lock notice.
    """
    tried = normalize_email(email)[:EMAIL_LABEL_MAX_LENGTH]
    target = User.objects.filter(email=tried).select_related("tenant").first() if tried else None
    with transaction.atomic():
        outcome = lockout.failure_count(request=request, email=email)
        details = {"email": tried}
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


def user_sign_out(*, request: HttpRequest) -> None:
    user = request.user
    with transaction.atomic():
        if user.is_authenticated:
            audit_event_record(
                event=AuditEventType.SIGNED_OUT,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
            )
        session_forget(session_key=request.session.session_key)
        logout(request)


def lockout_unlock(*, user: User, actor: User, request: HttpRequest | None = None) -> bool:
    """End the lock on a person's email before its time; True if they were locked.

    Owners and admins (scope `lockout:unlock`) unlock people of their own tenant, operators
    anybody. A lock on the client IP is not the person's: operators clear it with
    `axes_reset_ip`.
    """
    if not actor.has_perm(scopes.LOCKOUT_UNLOCK) or (
        not actor.is_superuser and actor.tenant_id != user.tenant_id
    ):
        raise PermissionDenied("You can only unlock people of your own MSP.")
    with transaction.atomic():
        if not lockout.counters_clear(email=user.email):
            return False
        lockout.unlock_record(email=user.email, ip=None, actor=actor, request=request)
    return True


def password_reset_link_send(
    *, user: User, actor: User, request: HttpRequest | None = None
) -> None:
    """Mail a person a password-reset link on an owner's say-so (`members:write`, own tenant).

    Their current password keeps working until they use the link; the link follows the same
    rules as one they asked for themselves.
    """
    refuse_other_tenant(actor=actor, tenant=user.tenant)
    if not actor.has_perm("members:write"):
        raise PermissionDenied("Sending reset links needs the members:write scope.")
    if not user.is_active:
        raise ValidationError(
            "%(email)s is deactivated: reactivate them first.",
            code="inactive",
            params={"email": user.email},
        )
    with transaction.atomic():
        mail_enqueue(
            to=user.email, kind=RESET_MAIL_KIND, context=set_password_mail_context(user=user)
        )
        audit_event_record(
            event=AuditEventType.PASSWORD_RESET_REQUESTED,
            actor=actor,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"email": user.email, "outcome": "sent", "by": "administrator"},
        )


def password_reset_request(*, request: HttpRequest, email: str) -> None:
    """Accept a password reset request the same way whatever the email.

    Whether the email has an account, is deactivated or is locked is only looked up later, in
    a task (`password_reset_request_process`), so the page's answer and timing don't depend on
    it. Beyond RESET_LIMIT_PER_IP requests an hour from one client IP, a request is dropped
    here; the page says the same.
    """
    ip = client_ip(request)
    with transaction.atomic():
        if ip:
            hold_lock(f"reset-ip:{ip}")
            recent = PasswordResetRequest.objects.filter(
                ip=ip, created_at__gte=timezone.now() - RESET_WINDOW
            ).count()
            if recent >= settings.RESET_LIMIT_PER_IP:
                logger.info("Password reset request from %s dropped: RESET_LIMIT_PER_IP", ip)
                return
        reset_request = PasswordResetRequest.objects.create(
            email=normalize_email(email)[:EMAIL_LABEL_MAX_LENGTH],
            ip=ip,
            user_agent=user_agent(request),
        )
        task_queue_on_commit(tasks.process_password_reset_request, reset_request.pk)


def _reset_outcome(user: User | None) -> str:
    if user is None:
        return "no_account"
    if not user.is_active:
        return "inactive"
    sent = OutboxMail.objects.filter(
        kind=RESET_MAIL_KIND, to=user.email, created_at__gte=timezone.now() - RESET_WINDOW
    ).count()
    if sent >= settings.RESET_LIMIT_PER_ACCOUNT:
        return "limited"
    return "sent"


def _request_as_recorded(reset_request: PasswordResetRequest) -> HttpRequest:
    """A stand-in for the page request that asked for a reset, so the audit event recorded
    later, in a task, names that client."""
    stand_in = HttpRequest()
    stand_in.META = {
        "REMOTE_ADDR": reset_request.ip or "",
        "HTTP_USER_AGENT": reset_request.user_agent,
    }
    return stand_in


def password_reset_request_process(*, reset_request_id: int) -> str | None:
    """Look up a reset request's email and, for an active account under its hourly limit
    (RESET_LIMIT_PER_ACCOUNT), mail a link. Returns the outcome, or None if another worker or
    the sweep already took the request: each request is processed once.

    A locked account gets its link too: a reset is the way out of a lock.
    """
    with transaction.atomic():
        reset_request = (
            PasswordResetRequest.objects.select_for_update(skip_locked=True)
            .filter(pk=reset_request_id, processed_at__isnull=True)
            .first()
        )
        if reset_request is None:
            return None
        reset_request.processed_at = timezone.now()
        reset_request.save(update_fields=["processed_at"])
        # Locking the person's row makes two requests for one account count mails in turn.
        user = (
            User.objects.select_for_update(of=("self",))
            .filter(email=reset_request.email)
            .select_related("tenant")
            .first()
        )
        outcome = _reset_outcome(user)
        if outcome == "sent":
            mail_enqueue(
                to=user.email, kind=RESET_MAIL_KIND, context=set_password_mail_context(user=user)
            )
        audit_event_record(
            event=AuditEventType.PASSWORD_RESET_REQUESTED,
            actor=None,
            tenant=user.tenant if user else None,
            target=user,
            request=_request_as_recorded(reset_request),
            details={"email": reset_request.email, "outcome": outcome},
        )
    return outcome


def password_reset_requests_due_ids() -> list[int]:
    return list(
        PasswordResetRequest.objects.filter(processed_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )


def password_reset_requests_prune() -> int:
    """Forget reset requests after a day: they hold emails typed by anyone."""
    count, _ = PasswordResetRequest.objects.filter(
        created_at__lt=timezone.now() - RESET_REQUEST_KEEP, processed_at__isnull=False
    ).delete()
    return count


def _password_changed_enqueue(*, user: User, how: str) -> None:
    mail_enqueue(
        to=user.email,
        kind="password_changed",
        context={
            "person": user,
            "how": how,
            "when": timezone.now(),
            "contact": unlock_contact_for_tenant(tenant=user.tenant, exclude=user),
        },
    )


def password_set_from_link(*, request: HttpRequest, user: User, password: str) -> None:
    """Set the password a person chose through an emailed link: a reset, or an invited
    person's first password.

    It ends every session of the person, lifts a lock on their email, and mails them a notice.
    It does not sign them in: a link proves access to a mailbox, not a second factor, so the
    next sign-in asks for every factor.
    """
    first = not user.has_usable_password()
    with transaction.atomic():
        user.set_password(password)
        user.password_change_required = False
        user.save(update_fields=["password", "password_changed_at", "password_change_required"])
        lifted = lockout.counters_clear(email=user.email)
        if UserSession.objects.filter(user=user).exists():
            user_sessions_end(user=user, actor=user, reason="password reset", request=request)
        audit_event_record(
            event=AuditEventType.PASSWORD_SET if first else AuditEventType.PASSWORD_RESET_COMPLETED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"lock_lifted": True} if lifted else {},
        )
        _password_changed_enqueue(user=user, how="first" if first else "reset")


def password_change(*, request: HttpRequest, password: str) -> int:
    """Change the signed-in person's password (the form checked the current one).

    This browser stays signed in, under a new session key; every other session of the person
    ends. Returns how many ended.
    """
    user = request.user
    with transaction.atomic():
        user.set_password(password)
        user.password_change_required = False
        user.save(update_fields=["password", "password_changed_at", "password_change_required"])
        old_key = request.session.session_key
        update_session_auth_hash(request, user)
        current_key = request.session.session_key
        session_key_moved(old_key=old_key, new_key=current_key)
        ended = 0
        if UserSession.objects.filter(user=user).exclude(session_key=current_key).exists():
            ended = user_sessions_end(
                user=user,
                actor=user,
                reason="password changed",
                request=request,
                keep_session_key=current_key,
            )
        audit_event_record(
            event=AuditEventType.PASSWORD_CHANGED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"other_sessions_ended": ended},
        )
        _password_changed_enqueue(user=user, how="change")
    return ended
