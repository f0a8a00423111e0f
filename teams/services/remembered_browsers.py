"""Remembered browsers: the cookie that lets a browser skip the second sign-in step.

After a second step, a person may ask not to be asked for a code on this browser for the
tenant's `remember_browser_days`. The browser gets a random token in an HttpOnly, SameSite=Lax
cookie (Secure, and `__Host-` named, under TLS); the database keeps only its SHA-256 and whose
it is. At the next sign-in, after the password, the lockout and the IP access list, mfa's
second step asks `remembered_browser_use` whether this browser stands in for the code. Nothing
else is skipped: a required enrolment or new password is still asked.

Everything that changes how a person proves who they are forgets their remembered browsers
(`remembered_browsers_forget`): a new or reset password, an MFA reset or a removed factor, a
changed sign-in email, deactivation and "this wasn't me".
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import User
from audit.client import user_agent
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams import scopes
from teams.models import RememberedBrowser
from teams.rules import act_on
from teams.selectors import remember_browser_days_for, remembered_browsers_for_user

# secrets.token_urlsafe(32): 256 random bits, 43 characters. Anything much longer is not ours.
TOKEN_BYTES = 32
TOKEN_MAX_LENGTH = 64


@dataclass(frozen=True)
class RememberedToken:
    """The token to put in this browser's cookie, in clear: it exists nowhere else."""

    token: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def remembered_browser_token(request: HttpRequest) -> str | None:
    """This browser's token, when its cookie holds something shaped like one."""
    token = request.COOKIES.get(settings.REMEMBERED_BROWSER_COOKIE_NAME, "")
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return token


def remembered_browser_add(*, request: HttpRequest, user: User) -> RememberedToken | None:
    """Remember this browser for `user`'s second step. Returns the token for the cookie, or
    None when the person's tenant does not let browsers be remembered.

    A browser holds one cookie: remembering it again replaces the token in it. The row of the
    token it held goes when it was this person's; a shared browser's row of somebody else stays
    on their list (unusable without the cookie) until they forget it or it expires. The person's
    expired rows are cleared on the way.

    The person's row is locked and must still be as `user` was loaded: deactivated, or given a
    new password or sign-in email, while their code was being checked, and nothing is
    remembered (those forget every remembered browser, and may have just done so).
    """
    days = remember_browser_days_for(user=user)
    if days <= 0:
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    expires_at = now + timedelta(days=days)
    with transaction.atomic():
        unchanged = (
            User.objects.select_for_update()
            .filter(pk=user.pk, is_active=True, password=user.password, email=user.email)
            .exists()
        )
        if not unchanged:
            return None
        RememberedBrowser.objects.filter(user=user, expires_at__lte=now).delete()
        replaced = remembered_browser_token(request)
        if replaced:
            RememberedBrowser.objects.filter(user=user, token_hash=token_hash(replaced)).delete()
        browser = RememberedBrowser.objects.create(
            tenant=user.tenant,
            user=user,
            token_hash=token_hash(token),
            user_agent=user_agent(request),
            created_at=now,
            expires_at=expires_at,
        )
        audit_event_record(
            event=AuditEventType.BROWSER_REMEMBERED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"browser": browser.pk, "days": days, "until": expires_at.isoformat()},
        )
    return RememberedToken(token=token, expires_at=expires_at)


def remembered_browser_use(*, request: HttpRequest, user: User) -> bool:
    """Does this browser stand in for `user`'s second step? Audited when it does.

    The token must be this person's, in this person's tenant, unexpired, and younger than the
    tenant's current setting (an owner who shortens it, or turns it off, shortens every
    browser already remembered). A token of anybody else counts for nothing.
    """
    token = remembered_browser_token(request)
    if token is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        browser = (
            remembered_browsers_for_user(user=user)
            .select_for_update()
            .filter(token_hash=token_hash(token))
            .first()
        )
        if browser is None:
            return False
        browser.last_used_at = now
        browser.save(update_fields=["last_used_at"])
        audit_event_record(
            event=AuditEventType.REMEMBERED_BROWSER_USED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"browser": browser.pk, "remembered_at": browser.created_at.isoformat()},
        )
    return True


def remembered_browsers_forget(
    *,
    user: User,
    actor: User | None,
    reason: str,
    request: HttpRequest | None = None,
    browser_id: int | None = None,
) -> int:
    """Forget the person's remembered browsers (or the one `browser_id`): their next sign-in
    asks for a code there again. One event when any was forgotten; returns how many."""
    browsers = RememberedBrowser.objects.filter(user=user)
    if browser_id is not None:
        browsers = browsers.filter(pk=browser_id)
    with transaction.atomic():
        forgotten = browsers.delete()[0]
        if forgotten:
            audit_event_record(
                event=AuditEventType.REMEMBERED_BROWSERS_FORGOTTEN,
                actor=actor,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"reason": reason, "browsers": forgotten},
            )
    return forgotten


def person_remembered_browsers_forget(
    *, person: User, actor: User, request: HttpRequest | None = None, browser_id: int | None = None
) -> int:
    """Someone who ends people's sessions (`sessions:revoke`) forgets a person's remembered
    browsers (or the one `browser_id`), so each asks for the second step again: for a laptop
    lost or left signed in somewhere. The person page of the admin calls this; one event."""
    act_on(actor=actor, person=person, scope=scopes.SESSIONS_REVOKE, oneself=True)
    return remembered_browsers_forget(
        user=person,
        actor=actor,
        reason="forgotten by an administrator",
        request=request,
        browser_id=browser_id,
    )


def remembered_browser_cookie_set(response: HttpResponse, remembered: RememberedToken) -> None:
    response.set_cookie(
        settings.REMEMBERED_BROWSER_COOKIE_NAME,
        remembered.token,
        expires=remembered.expires_at,
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def remembered_browser_cookie_delete(response: HttpResponse) -> None:
    response.delete_cookie(settings.REMEMBERED_BROWSER_COOKIE_NAME, path="/", samesite="Lax")
