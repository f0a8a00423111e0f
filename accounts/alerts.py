"""Alerts on sign-ins: unusual successful ones, bursts of failures, and "this wasn't me".

Each check is called with one line from the sign-in flow, inside its transaction, after the
flow has recorded its own event.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.devices import device_from_user_agent, network_of
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record, chain_lock
from outbox.links import site_link
from outbox.services import mail_enqueue
from teams import scopes
from teams.models import Tenant
from teams.selectors import people_holding_scope
from teams.services.remembered_browsers import remembered_browsers_forget
from teams.services.sessions import user_sessions_end

UNUSUAL_LOOKBACK = timedelta(days=90)
# Comparing against this many distinct (IP, browser) pairs is plenty for any real person.
HISTORY_LIMIT = 1000
REPORT_LINK_MAX_AGE = timedelta(days=7)
REPORT_LINK_SALT = "audit.sign_in_report"
FAILURE_EVENTS = (AuditEventType.SIGN_IN_FAILED, AuditEventType.MFA_FAILED)


# What else a reported sign-in may have left behind, undone by the app that owns it: mfa
# registers the removal of second factors added since (accounts knows nothing of factors).
# Each takes the person and the time of the reported sign-in, and returns what it removed,
# for the SIGN_IN_REPORTED event.
SignInReportUndo = Callable[..., dict]
_report_undos: list[SignInReportUndo] = []


def sign_in_report_undo_register(undo: SignInReportUndo) -> None:
    """Called from an app's AppConfig.ready()."""
    if undo not in _report_undos:
        _report_undos.append(undo)


class ReportLinkInvalid(Exception):
    """A "this wasn't me" link that is forged, expired, or names an alert that doesn't exist."""


def tenant_owners(*, tenant: Tenant | None, exclude: User | None = None) -> list[User]:
    """Who hears about a person's unusual sign-ins: the tenant's Owners (who run its policy)."""
    return list(
        people_holding_scope(
            tenant=tenant, scope_keys=frozenset({scopes.SECURITY_WRITE}), exclude=exclude
        ).order_by("email")
    )


def report_link_token(*, alert: AuditEvent) -> str:
    return signing.TimestampSigner(salt=REPORT_LINK_SALT).sign(str(alert.pk))


def report_link_url(*, alert: AuditEvent) -> str:
    """The emailed "this wasn't me" address: from SITE_URL, never from the request's Host."""
    return site_link("sign_in_report", token=report_link_token(alert=alert))


def report_link_alert(*, token: str) -> AuditEvent:
    """The unusual-sign-in alert a "this wasn't me" link names, if the link is genuine."""
    try:
        alert_id = signing.TimestampSigner(salt=REPORT_LINK_SALT).unsign(
            token, max_age=REPORT_LINK_MAX_AGE
        )
    except signing.SignatureExpired as error:
        raise ReportLinkInvalid("expired") from error
    except signing.BadSignature as error:
        raise ReportLinkInvalid("invalid") from error
    alert = (
        AuditEvent.objects.filter(pk=int(alert_id), event=AuditEventType.UNUSUAL_SIGN_IN)
        .select_related("target", "tenant")
        .first()
    )
    if alert is None or alert.target is None:
        raise ReportLinkInvalid("invalid")
    return alert


def sign_in_already_reported(*, alert: AuditEvent) -> bool:
    return AuditEvent.objects.filter(
        target_id=alert.target_id, event=AuditEventType.SIGN_IN_REPORTED, details__alert=alert.pk
    ).exists()


def _mail_context(*, user: User, event: AuditEvent) -> dict:
    return {
        "person": user.get_full_name(),
        "email": user.email,
        "tenant": user.tenant.name if user.tenant else "",
        "when": event.created_at,
        "ip": event.ip or "unknown",
        "device": str(device_from_user_agent(event.user_agent)),
    }


def sign_in_unusual_check(
    *,
    request: HttpRequest,
    user: User,
    sign_in: AuditEvent,
    began_at: float,
    first_sign_in: bool = False,
) -> AuditEvent | None:
    """Flag the sign-in just recorded (`sign_in`, its SIGN_IN_SUCCEEDED event) if both its
    device and its network are new to the person. `began_at` (a timestamp) is when its attempt
    began, before any of its steps: the alert keeps it, so "this wasn't me" undoes what the
    steps added too.

    Call it right after that event is recorded, in the same transaction. The sign-in is unusual
    when neither its device (browser family and operating system) nor its network (/24 or /64)
    was seen in the person's successful sign-ins of the last 90 days. A person's very first
    sign-in has nothing to compare with and is not flagged; a first sign-in after 90 quiet days
    is. One query for a person with recent sign-ins, two otherwise, none with `first_sign_in`
    (the person had no `last_login` before this sign-in, which every completed sign-in sets
    before its event is recorded, so there is no earlier sign-in to find).

    An unusual sign-in records UNUSUAL_SIGN_IN and mails the person the time, IP and device
    with a "this wasn't me" link; owners get a copy when the tenant asks for one.
    """
    current = sign_in
    if first_sign_in:
        return None
    with transaction.atomic(savepoint=False):
        earlier = AuditEvent.objects.filter(
            target=user, event=AuditEventType.SIGN_IN_SUCCEEDED
        ).exclude(pk=current.pk)
        history = list(
            earlier.filter(created_at__gte=current.created_at - UNUSUAL_LOOKBACK)
            .order_by()
            .values_list("ip", "user_agent")
            .distinct()[:HISTORY_LIMIT]
        )
        if not history and not earlier.exists():
            return None
        device = device_from_user_agent(current.user_agent)
        network = network_of(current.ip)
        if any(
            device_from_user_agent(agent).key == device.key or network_of(ip) == network
            for ip, agent in history
        ):
            return None
        alert = audit_event_record(
            event=AuditEventType.UNUSUAL_SIGN_IN,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={
                "sign_in": current.pk,
                "began": datetime.fromtimestamp(began_at, tz=UTC).isoformat(),
                "device": str(device),
                "network": network,
            },
        )
        context = _mail_context(user=user, event=current)
        mail_enqueue(
            to=user.email,
            kind="unusual_sign_in",
            context={**context, "report_url": report_link_url(alert=alert)},
        )
        if user.tenant and user.tenant.alert_owners_on_unusual_sign_in:
            for owner in tenant_owners(tenant=user.tenant, exclude=user):
                mail_enqueue(to=owner.email, kind="unusual_sign_in_owner", context=context)
    return alert


def sign_in_failure_burst_check(*, request: HttpRequest | None, user: User | None) -> None:
    """Flag a burst of failed sign-ins against one account, once per lockout window.

    A burst is at least half of LOCKOUT_FAILURES failures (either sign-in step) within
    LOCKOUT_MINUTES. The chain's lock is taken first, so parallel failures flag it once.
    The person is told, and owners get a copy when the tenant asks for one.
    """
    if user is None:
        return
    threshold = max(1, math.ceil(settings.LOCKOUT_FAILURES / 2))
    with transaction.atomic():
        chain_lock(tenant_id=user.tenant_id)
        window_start = timezone.now() - timedelta(minutes=settings.LOCKOUT_MINUTES)
        recent = AuditEvent.objects.filter(target=user, created_at__gte=window_start)
        failures = recent.filter(event__in=FAILURE_EVENTS).count()
        if failures < threshold or recent.filter(event=AuditEventType.FAILURE_BURST).exists():
            return
        burst = audit_event_record(
            event=AuditEventType.FAILURE_BURST,
            actor=None,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"failures": failures, "minutes": settings.LOCKOUT_MINUTES},
        )
        if not user.is_active:
            return
        context = {**_mail_context(user=user, event=burst), "failures": failures}
        context["minutes"] = settings.LOCKOUT_MINUTES
        mail_enqueue(to=user.email, kind="failure_burst", context=context)
        if user.tenant and user.tenant.alert_owners_on_unusual_sign_in:
            for owner in tenant_owners(tenant=user.tenant, exclude=user):
                mail_enqueue(to=owner.email, kind="failure_burst_owner", context=context)


def _attempt_began(alert: AuditEvent) -> datetime | None:
    """When the reported sign-in's attempt began (alerts recorded before it was kept have
    none): its steps, an enrolment among them, happened between then and the sign-in."""
    try:
        return datetime.fromisoformat(alert.details["began"])
    except (KeyError, TypeError, ValueError):
        return None


def sign_in_report(*, alert: AuditEvent, request: HttpRequest) -> bool:
    """The person says an unusual sign-in wasn't them: lock the intruder out.

    Ends all of the person's sessions, makes their password unusable so only the emailed
    password reset lets anyone back in, undoes what the intruder may have added since the
    reported sign-in's attempt began (the registered undos: second factors enrolled, at one of
    its steps or after it, or backup codes issued since then, which would otherwise let them
    pass the second step after the reset), records
    SIGN_IN_REPORTED and tells the owners. The emailed link is the proof: the person may not be
    able to sign in any more. Returns False when this alert was already reported (the link works
    once).
    """
    with transaction.atomic():
        user = (
            User.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=alert.target_id)
        )
        if sign_in_already_reported(alert=alert):
            return False
        ended = user_sessions_end(
            user=user, actor=user, reason="sign-in reported as not me", request=request
        )
        remembered_browsers_forget(
            user=user, actor=user, reason="sign-in reported as not me", request=request
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        sign_in = AuditEvent.objects.filter(pk=alert.details.get("sign_in")).first()
        since = _attempt_began(alert) or (sign_in or alert).created_at
        undone: dict = {}
        for undo in _report_undos:
            undone.update(undo(user=user, since=since))
        audit_event_record(
            event=AuditEventType.SIGN_IN_REPORTED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={
                "alert": alert.pk,
                "sign_in": alert.details.get("sign_in"),
                "sessions_ended": ended,
                **undone,
            },
        )
        context = _mail_context(user=user, event=sign_in or alert)
        for owner in tenant_owners(tenant=user.tenant, exclude=user):
            mail_enqueue(to=owner.email, kind="sign_in_reported_owner", context=context)
    return True
