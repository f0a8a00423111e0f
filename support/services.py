import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.dblock import hold_lock
from accounts.models import User, normalize_email
from accounts.services import lockout_unlock, password_reset_link_send
from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.refusals import access_refusal_record
from audit.services import audit_event_record
from mfa.services import mfa_factors_reset
from outbox.links import site_link
from outbox.services import mail_enqueue, task_queue_on_commit
from support import tasks
from support.models import RecoveryAttempt, RecoveryRequest
from support.selectors import RECOVERY_SCOPES, recovery_handlers_for_tenant
from teams.rules import act_on

logger = logging.getLogger(__name__)

RECOVERY_EMAIL_WINDOW = timedelta(days=1)
RECOVERY_IP_WINDOW = timedelta(hours=1)
RECOVERY_ATTEMPT_KEEP = timedelta(days=2)
EMAIL_LABEL_MAX_LENGTH = 254


# --- Account recovery requests ------------------------------------------------------------------


def recovery_request_submit(
    *, request: HttpRequest, email: str, reason: str, note: str = ""
) -> None:
    """Take a "Can't sign in?" request the same way, at the same speed, whatever the email.

    Every submission is counted per email and per client IP in the database; beyond a limit it
    is dropped here and the page says the same. Whether the email names an account is looked
    up later, in a task (`recovery_attempt_process`).
    """
    email_key = normalize_email(email)[:EMAIL_LABEL_MAX_LENGTH]
    ip = client_ip(request)
    now = timezone.now()
    with transaction.atomic():
        hold_lock(f"recovery-email:{email_key}")
        if ip:
            hold_lock(f"recovery-ip:{ip}")
        over_email = (
            RecoveryAttempt.objects.filter(
                email=email_key, created_at__gte=now - RECOVERY_EMAIL_WINDOW
            ).count()
            >= settings.RECOVERY_LIMIT_PER_EMAIL
        )
        over_ip = bool(ip) and (
            RecoveryAttempt.objects.filter(ip=ip, created_at__gte=now - RECOVERY_IP_WINDOW).count()
            >= settings.RECOVERY_LIMIT_PER_IP
        )
        attempt = RecoveryAttempt.objects.create(
            email=email_key,
            reason=reason,
            note=note,
            ip=ip,
            user_agent=user_agent(request),
            created_at=now,
            processed_at=now if (over_email or over_ip) else None,
        )
        if over_email or over_ip:
            limit = "RECOVERY_LIMIT_PER_EMAIL" if over_email else "RECOVERY_LIMIT_PER_IP"
            logger.info("Recovery request dropped: %s", limit)
            access_refusal_record(
                event=AuditEventType.RATE_LIMIT_DROPPED, request=request, details={"limit": limit}
            )
            return
        task_queue_on_commit(tasks.process_recovery_attempt, attempt.pk)


def _request_as_recorded(attempt: RecoveryAttempt) -> HttpRequest:
    """A stand-in for the page request, so the event recorded later names that client."""
    stand_in = HttpRequest()
    stand_in.META = {"REMOTE_ADDR": attempt.ip or "", "HTTP_USER_AGENT": attempt.user_agent}
    return stand_in


def recovery_attempt_process(*, attempt_id: int) -> RecoveryRequest | None:
    """Turn a form submission into a recovery request if its email names a real, active
    account of a tenant, and mail that tenant's people who can reset factors or unlock.

    Each attempt is processed once (another worker or the sweep may hold it). One person has at
    most one open request: asking again adds nothing new for the owners to handle.
    """
    with transaction.atomic():
        attempt = (
            RecoveryAttempt.objects.select_for_update(skip_locked=True)
            .filter(pk=attempt_id, processed_at__isnull=True)
            .first()
        )
        if attempt is None:
            return None
        attempt.processed_at = timezone.now()
        attempt.save(update_fields=["processed_at"])
        person = (
            User.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .filter(email=attempt.email, is_active=True, tenant__isnull=False)
            .first()
        )
        if person is None or RecoveryRequest.objects.open().filter(person=person).exists():
            return None
        recovery = RecoveryRequest.objects.create(
            tenant=person.tenant,
            person=person,
            reason=attempt.reason,
            note=attempt.note,
            ip=attempt.ip,
            user_agent=attempt.user_agent,
            created_at=attempt.created_at,
        )
        audit_event_record(
            event=AuditEventType.RECOVERY_REQUESTED,
            actor=None,
            tenant=person.tenant,
            target=person,
            request=_request_as_recorded(attempt),
            details={"reason": attempt.reason, "request": recovery.pk},
        )
        link = site_link("support:recovery_detail", recovery.pk)
        for handler in recovery_handlers_for_tenant(tenant=person.tenant).exclude(pk=person.pk):
            mail_enqueue(
                to=handler.email,
                kind="recovery_requested",
                context={
                    "person": person,
                    "recovery": recovery,
                    "link": link,
                    "expiry_days": settings.RECOVERY_REQUEST_DAYS,
                },
            )
    return recovery


def recovery_attempts_due_ids() -> list[int]:
    return list(
        RecoveryAttempt.objects.filter(processed_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )


def _recovery_action_run(
    action: str, *, person: User, actor: User, request: HttpRequest | None
) -> tuple[str, bool]:
    """Run the one service behind an action; it checks the actor's scopes and records its
    own event. Returns the outcome and whether anything changed."""
    if action == "mfa_reset":
        return RecoveryRequest.Outcome.MFA_RESET, mfa_factors_reset(
            target=person, actor=actor, request=request
        )
    if action == "unlock":
        return RecoveryRequest.Outcome.UNLOCKED, lockout_unlock(
            user=person, actor=actor, request=request
        )
    if action == "reset_link":
        password_reset_link_send(user=person, actor=actor, request=request)
        return RecoveryRequest.Outcome.RESET_LINK, True
    raise ValidationError(_("Choose one of the listed actions."), code="invalid_action")


def recovery_request_handle(
    *,
    recovery: RecoveryRequest,
    action: str,
    actor: User,
    request: HttpRequest | None = None,
) -> RecoveryRequest:
    """Resolve or decline an open recovery request after checking the person out of band.

    The action's own service does the work and records its event; this records the outcome of
    the request and mails it to the person.
    """
    act_on(actor=actor, person=recovery.person, scope=RECOVERY_SCOPES)
    with transaction.atomic():
        recovery = (
            RecoveryRequest.objects.select_for_update(of=("self",))
            .select_related("person", "tenant")
            .get(pk=recovery.pk)
        )
        if recovery.status != RecoveryRequest.Status.OPEN:
            raise ValidationError(
                _("This request was already %(status)s."),
                code="not_open",
                params={"status": recovery.get_status_display().lower()},
            )
        person = recovery.person
        if action == "decline":
            recovery.status = RecoveryRequest.Status.DECLINED
            event, changed = AuditEventType.RECOVERY_DECLINED, False
        else:
            outcome, changed = _recovery_action_run(
                action, person=person, actor=actor, request=request
            )
            recovery.status = RecoveryRequest.Status.RESOLVED
            recovery.outcome = outcome
            event = AuditEventType.RECOVERY_RESOLVED
        recovery.handled_by = actor
        recovery.handled_at = timezone.now()
        recovery.save(update_fields=["status", "outcome", "handled_by", "handled_at"])
        audit_event_record(
            event=event,
            actor=actor,
            tenant=recovery.tenant,
            target=person,
            request=request,
            details={"request": recovery.pk, "action": action, "changed": changed},
        )
        mail_enqueue(
            to=person.email,
            kind="recovery_handled",
            context={"actor": actor, "recovery": recovery},
        )
    return recovery


def recovery_requests_expire(*, now: datetime | None = None) -> int:
    """Close open requests older than RECOVERY_REQUEST_DAYS, and forget old form attempts."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RECOVERY_REQUEST_DAYS)
    expired = 0
    with transaction.atomic():
        stale = (
            RecoveryRequest.objects.open()
            .filter(created_at__lte=cutoff)
            .select_for_update(of=("self",))
            .select_related("person", "tenant")
        )
        for recovery in stale:
            recovery.status = RecoveryRequest.Status.EXPIRED
            recovery.handled_at = now
            recovery.save(update_fields=["status", "handled_at"])
            audit_event_record(
                event=AuditEventType.RECOVERY_EXPIRED,
                actor=None,
                tenant=recovery.tenant,
                target=recovery.person,
                details={"request": recovery.pk},
            )
            expired += 1
        RecoveryAttempt.objects.filter(
            created_at__lt=now - RECOVERY_ATTEMPT_KEEP, processed_at__isnull=False
        ).delete()
    return expired
