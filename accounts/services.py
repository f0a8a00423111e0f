import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts import lockout, lockout_counters, tasks
from accounts.dblock import hold_lock
from accounts.models import PasswordResetRequest, User, normalize_email
from accounts.sign_in import attempt_password_rebind, sign_in_step_passed
from accounts.stages import password_sign_in_refusal
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from audit.services import audit_event_record
from outbox.models import OutboxMail
from outbox.services import mail_enqueue, task_queue_on_commit
from teams import scopes
from teams.models import UserSession
from teams.rules import act_on
from teams.selectors import unlock_contact_for_tenant
from teams.services.people import set_password_mail_context
from teams.services.remembered_browsers import remembered_browsers_forget
from teams.services.sessions import (
    session_key_moved,
    user_sessions_end,
)

logger = logging.getLogger(__name__)

EMAIL_LABEL_MAX_LENGTH = 254
RESET_WINDOW = timedelta(hours=1)
RESET_REQUEST_KEEP = timedelta(days=1)
RESET_MAIL_KIND = "password_reset"
# Links an owner sends count in a quota of their own: the person's own "Forgot password?" keeps
# its RESET_LIMIT_PER_ACCOUNT whatever owners send, and owners get as many an hour, no more.
RESET_BY_ADMIN_MAIL_KIND = "password_reset_sent_by_admin"


def _reset_mails_sent_recently(*, user: User, kind: str) -> int:
    return OutboxMail.objects.filter(
        kind=kind, to=user.email, created_at__gte=timezone.now() - RESET_WINDOW
    ).count()


def lockout_unlock(*, user: User, actor: User, request: HttpRequest | None = None) -> bool:
    """End the lock on a person's email before its time; True if they were locked.

    Owners and admins (scope `lockout:unlock`) unlock people of their own tenant, operators
    anybody; nobody unlocks a person whose role is above theirs. A lock on the client IP is not
    the person's: operators clear it with `axes_reset_ip`.
    """
    act_on(actor=actor, person=user, scope=scopes.LOCKOUT_UNLOCK)
    with transaction.atomic():
        if not lockout_counters.counters_clear(email=user.email):
            return False
        lockout.unlock_record(email=user.email, ip=None, actor=actor, request=request)
    return True


def password_reset_link_send(
    *, user: User, actor: User, request: HttpRequest | None = None
) -> None:
    """Mail a person a password-reset link on an owner's say-so (`members:write`, own tenant,
    nobody above the actor).

    Their current password keeps working until they use the link; the link follows the same
    rules as one they asked for themselves. Links sent this way have their own hourly limit per
    person (RESET_LIMIT_PER_ACCOUNT, like the person's own requests, which they don't use up):
    beyond it the owner is told to wait, so a hijacked owner account can't flood a mailbox.
    """
    act_on(actor=actor, person=user, scope=scopes.MEMBERS_WRITE)
    instead = password_sign_in_refusal(user=user)
    if instead is not None:
        raise ValidationError(
            _("%(email)s signs in with %(instead)s only: a password would not let them in."),
            code="single_sign_on_required",
            params={"email": user.email, "instead": instead},
        )
    if not user.is_active:
        raise ValidationError(
            _("%(email)s is deactivated: reactivate them first."),
            code="inactive",
            params={"email": user.email},
        )
    with transaction.atomic():
        # Locking the person's row makes parallel sends count in turn.
        User.objects.select_for_update(of=("self",)).filter(pk=user.pk).first()
        sent = _reset_mails_sent_recently(user=user, kind=RESET_BY_ADMIN_MAIL_KIND)
        if sent >= settings.RESET_LIMIT_PER_ACCOUNT:
            raise ValidationError(
                _(
                    "%(email)s has been sent %(count)d reset links in the last hour, the most "
                    "allowed: wait before sending another."
                ),
                code="reset_links_limited",
                params={"email": user.email, "count": sent},
            )
        mail_enqueue(
            to=user.email,
            kind=RESET_BY_ADMIN_MAIL_KIND,
            context={**set_password_mail_context(user=user), "sent_by": actor},
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
                access_refusal_record(
                    event=AuditEventType.RATE_LIMIT_DROPPED,
                    request=request,
                    details={"limit": "RESET_LIMIT_PER_IP"},
                )
                return
        reset_request = PasswordResetRequest.objects.create(
            email=normalize_email(email)[:EMAIL_LABEL_MAX_LENGTH],
            ip=ip,
            user_agent=user_agent(request),
            language=translation.get_language() or "",
        )
        task_queue_on_commit(tasks.process_password_reset_request, reset_request.pk)


def _reset_outcome(user: User | None) -> str:
    if user is None:
        return "no_account"
    if not user.is_active:
        return "inactive"
    if password_sign_in_refusal(user=user) is not None:
        return "single_sign_on_required"
    if _reset_mails_sent_recently(user=user, kind=RESET_MAIL_KIND) >= (
        settings.RESET_LIMIT_PER_ACCOUNT
    ):
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
            with translation.override(reset_request.language or settings.LANGUAGE_CODE):
                mail_enqueue(
                    to=user.email,
                    kind=RESET_MAIL_KIND,
                    context=set_password_mail_context(user=user),
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
    count, _by_model = PasswordResetRequest.objects.filter(
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


def _password_store(*, user: User, password: str) -> None:
    """Save a password the person chose: it meets any demand for a new one (required by an
    owner, expired, or found breached)."""
    user.set_password(password)
    user.password_change_required = False
    user.save(
        update_fields=[
            "password",
            "password_changed_at",
            "password_change_required",
            "password_breached_at",
        ]
    )


def password_link_refusal_record(*, request: HttpRequest, user: User, instead: str) -> None:
    """Record that a valid set-password link was refused because the person must sign in
    through `instead` (their tenant's provider): nothing was set, ended or unlocked."""
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SET_PASSWORD_LINK_REFUSED,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"sign_in_with": instead},
        )


def password_set_from_link(*, request: HttpRequest, user: User, password: str) -> None:
    """Set the password a person chose through an emailed link: a reset, or an invited
    person's first password.

    It ends every session of the person, lifts a lock on their email, and mails them a notice.
    It does not sign them in: a link proves access to a mailbox, not a second factor, so the
    next sign-in asks for every factor. Refused for someone who must sign in another way
    (single sign-on required), however old the link: the page checks first and says so.
    """
    instead = password_sign_in_refusal(user=user)
    if instead is not None:
        raise ValidationError(
            _("%(email)s signs in with %(instead)s only: a password would not let them in."),
            code="single_sign_on_required",
            params={"email": user.email, "instead": instead},
        )
    first = not user.has_usable_password()
    with transaction.atomic():
        _password_store(user=user, password=password)
        lifted = lockout_counters.counters_clear(email=user.email)
        if UserSession.objects.filter(user=user).exists():
            user_sessions_end(user=user, actor=user, reason="password reset", request=request)
        remembered_browsers_forget(user=user, actor=user, reason="password reset", request=request)
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
        _password_store(user=user, password=password)
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
        remembered_browsers_forget(
            user=user, actor=user, reason="password changed", request=request
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


def password_change_at_sign_in(*, request: HttpRequest, user: User, password: str) -> str | None:
    """Set the new password a pending sign-in waited for, then go on with the sign-in.

    The person has no session here yet; every session they have elsewhere ends. Returns the
    address of the next step due, or None when the person is now signed in.
    """
    with transaction.atomic():
        _password_store(user=user, password=password)
        ended = 0
        if UserSession.objects.filter(user=user).exists():
            ended = user_sessions_end(
                user=user, actor=user, reason="password changed", request=request
            )
        remembered_browsers_forget(
            user=user, actor=user, reason="password changed", request=request
        )
        audit_event_record(
            event=AuditEventType.PASSWORD_CHANGED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"other_sessions_ended": ended, "at_sign_in": True},
        )
        _password_changed_enqueue(user=user, how="change")
        attempt_password_rebind(request=request, user=user)
        return sign_in_step_passed(request=request, step="new_password")
