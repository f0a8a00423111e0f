from django.contrib.auth import login, logout
from django.db import transaction
from django.http import HttpRequest

from accounts.models import User, normalize_email
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.services import session_forget, session_track

EMAIL_LABEL_MAX_LENGTH = 254


def user_sign_in(*, request: HttpRequest, user: User) -> str | None:
    """Start a session after a correct password; Django's login() rotates the session key.

    Returns the address of the step still due (the second factor, or enrolling one when MFA is
    required), or None when the password completes the sign-in.
    """
    # mfa builds on accounts, so it is imported here rather than at the top of the module.
    from mfa.services import sign_in_second_step_begin

    with transaction.atomic():
        login(request, user)
        session_track(request=request, user=user)
        step_due = sign_in_second_step_begin(request=request, user=user)
        if step_due is None:
            user_sign_in_complete(request=request, user=user, second_factor=None)
    return step_due


def user_sign_in_complete(*, request: HttpRequest, user: User, second_factor: str | None) -> None:
    """The one moment a sign-in is complete: right after the password for people with no
    second step due, or when the second step (or a required enrolment) succeeds.

    Whatever must happen once per completed sign-in hooks here and nowhere else.
    """
    with transaction.atomic():
        audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"second_factor": second_factor or "none"},
        )


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
