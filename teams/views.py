from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit.devices import device_from_user_agent
from teams.forms import RevokeSessionForm
from teams.selectors import session_for_user_by_id, sessions_for_user
from teams.services.sessions import session_revoke, user_sessions_end


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sessions(request: HttpRequest) -> HttpResponse:
    """One's own sessions: where and since when, and a way to end any of them.

    POST `revoke` is a session's id, or `others` for every session but this one. Another
    person's session id is the same 404 as a missing one.
    """
    current_key = request.session.session_key
    if request.method == "POST":
        form = RevokeSessionForm(request.POST)
        if not form.is_valid():
            raise BadRequest("Say which session to end.")
        choice = form.cleaned_data["revoke"]
        if choice == RevokeSessionForm.OTHERS:
            ended = user_sessions_end(
                user=request.user,
                actor=request.user,
                reason="signed out of other sessions",
                request=request,
                keep_session_key=current_key,
            )
            messages.success(
                request,
                ngettext(
                    "Signed out of %(count)d other session.",
                    "Signed out of %(count)d other sessions.",
                    ended,
                )
                % {"count": ended},
            )
            return redirect("teams:sessions")
        session = session_for_user_by_id(user=request.user, session_id=int(choice))
        is_current = session.session_key == current_key
        session_revoke(
            session=session, actor=request.user, reason="revoked by its owner", request=request
        )
        if is_current:
            logout(request)
            return redirect("accounts:login")
        messages.success(
            request,
            _("Signed out of %(device)s.") % {"device": device_from_user_agent(session.user_agent)},
        )
        return redirect("teams:sessions")
    rows = [
        {
            "session": session,
            "device": str(device_from_user_agent(session.user_agent)),
            "is_current": session.session_key == current_key,
        }
        for session in sessions_for_user(user=request.user)
    ]
    return render(
        request,
        "teams/sessions.html",
        {"rows": rows, "has_others": any(not row["is_current"] for row in rows)},
    )
