from django.contrib.auth import login, logout
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User, normalize_email
from audit.alerts import sign_in_failure_burst_check, sign_in_unusual_check
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.services import session_forget, session_track

EMAIL_LABEL_MAX_LENGTH = 254


def user_sign_in(*, request: HttpRequest, user: User) -> None:
    """Start a session after a correct password; Django's login() rotates the session key."""
    with transaction.atomic():
        login(request, user)
        session_track(request=request, user=user)
        audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
        )
        sign_in_unusual_check(request=request, user=user)


def sign_in_failure_record(
    *,
    request: HttpRequest | None,
    email: str,
    event: AuditEventType = AuditEventType.SIGN_IN_FAILED,
) -> None:
    """Audit a failed sign-in step against whichever account the email names, if any.

    Both steps fail through here (a wrong password, or `MFA_FAILED` for a wrong code), so both
    count the same way. The email as typed is kept (normalised and cut to length) so owners can
    see what was tried; the password or code never is.
    """
    tried = normalize_email(email)[:EMAIL_LABEL_MAX_LENGTH]
    target = User.objects.filter(email=tried).select_related("tenant").first() if tried else None
    audit_event_record(
        event=event,
        actor=None,
        tenant=target.tenant if target else None,
        target=target,
        request=request,
        details={"email": tried},
    )
    sign_in_failure_burst_check(request=request, user=target)


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
