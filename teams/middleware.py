from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit.client import client_ip
from teams import notices
from teams.models import UserSession
from teams.selectors import access_list_allows, session_policy_for_user
from teams.services.access_list import access_list_session_end
from teams.services.sessions import session_expire, session_rekey, session_touch

# `last_active_at` is written at most this often per session, so a busy page costs no write.
# Idle timeouts are therefore measured to within this much.
TOUCH_INTERVAL = timedelta(minutes=1)


class SessionLimitsMiddleware:
    """Hold every signed-in request to its session's limits.

    A session whose tracking row is gone was revoked, so it is signed out. One past its idle
    timeout, its lifetime or, started through the tenant's identity provider, the tenant's
    single sign-on maximum age is ended, audited and signed out with a message saying why; the
    request then carries on anonymous (so a protected page sends the person to sign in).
    Otherwise the session's `last_active_at` moves on, at most once a minute. A session ended
    server-side (by beat, an owner, a newer sign-in) left a note in its place, which the next
    request shows.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tracked = self.check(request)
        response = self.get_response(request)
        if tracked is not None and request.session.session_key != tracked.session_key:
            session_rekey(
                tracked=tracked,
                session_key=request.session.session_key
                if getattr(request.user, "pk", None) == tracked.user_id
                else None,
            )
        return response

    def check(self, request: HttpRequest) -> UserSession | None:
        user = request.user
        if not user.is_authenticated:
            note = request.session.pop(notices.ENDED_NOTE_KEY, None)
            if note:
                messages.warning(request, notices.note_text(note))
            return None
        tracked = (
            UserSession.objects.filter(session_key=request.session.session_key, user=user)
            .only("pk", "session_key", "user_id", "started_at", "last_active_at", "provider_issuer")
            .first()
        )
        if tracked is None:
            logout(request)
            messages.warning(request, notices.note_text(notices.SESSION_ENDED))
            return None
        policy = session_policy_for_user(user=user)
        now = timezone.now()
        for reason, limit, since in policy.limits(tracked):
            if now >= since + limit:
                session_expire(request=request, tracked=tracked, reason=reason)
                messages.warning(
                    request, notices.note_text(notices.session_expired(reason=reason, limit=limit))
                )
                return None
        if now - tracked.last_active_at >= TOUCH_INTERVAL:
            session_touch(tracked=tracked, now=now)
        return tracked


class AccessListMiddleware:
    """End a signed-in session whose address is outside its tenant's IP access list.

    Runs after SessionLimitsMiddleware, on the person and tenant the session already loaded: a
    tenant without an enforced list costs no query, one with a list costs one (the selector's).
    The session ends (tracking row and Django session, audited) and the request is answered
    with the refusal page rather than carried on anonymous, so the person sees why.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not access_list_allows(user=user, ip=client_ip(request)):
            tenant = user.tenant
            access_list_session_end(request=request)
            return notices.access_list_refusal(request, tenant=tenant)
        return self.get_response(request)
