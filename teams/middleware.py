from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from teams.models import UserSession
from teams.selectors import session_policy_for_user
from teams.services import session_expire, session_rekey, session_touch

# `last_active_at` is written at most this often per session, so a busy page costs no write.
# Idle timeouts are therefore measured to within this much.
TOUCH_INTERVAL = timedelta(minutes=1)


def duration_in_words(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not hours:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


class SessionLimitsMiddleware:
    """Hold every signed-in request to its session's limits.

    A session whose tracking row is gone was revoked, so it is signed out. One past its idle
    timeout or its lifetime is ended, audited and signed out with a message saying why; the
    request then carries on anonymous (so a protected page sends the person to sign in).
    Otherwise the session's `last_active_at` moves on, at most once a minute.
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
            return None
        tracked = (
            UserSession.objects.filter(session_key=request.session.session_key, user=user)
            .only("pk", "session_key", "user_id", "started_at", "last_active_at")
            .first()
        )
        if tracked is None:
            logout(request)
            messages.warning(request, "This session was ended. Sign in again to continue.")
            return None
        policy = session_policy_for_user(user=user)
        now = timezone.now()
        if now >= tracked.started_at + policy.lifetime:
            session_expire(request=request, tracked=tracked, reason="lifetime")
            messages.warning(
                request,
                f"You were signed out because a session lasts at most "
                f"{duration_in_words(policy.lifetime)}. Sign in again to continue.",
            )
            return None
        if now >= tracked.last_active_at + policy.idle_timeout:
            session_expire(request=request, tracked=tracked, reason="idle")
            messages.warning(
                request,
                f"You were signed out after {duration_in_words(policy.idle_timeout)} without "
                f"activity. Sign in again to continue.",
            )
            return None
        if now - tracked.last_active_at >= TOUCH_INTERVAL:
            session_touch(tracked=tracked, now=now)
        return tracked
