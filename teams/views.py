from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit.devices import device_from_user_agent
from teams import access
from teams.forms import ForgetBrowserForm, RevokeSessionForm
from teams.models import RememberedBrowser, UserSession
from teams.proofs import fresh_proof_demand
from teams.selectors import (
    remembered_browser_for_user_by_id,
    remembered_browsers_for_user,
    session_for_user_by_id,
    sessions_for_user,
)
from teams.services.remembered_browsers import (
    remembered_browser_cookie_delete,
    remembered_browser_token,
    remembered_browsers_forget,
    token_hash,
)
from teams.services.sessions import session_revoke, user_sessions_end


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sessions(request: HttpRequest) -> HttpResponse:
    """One's own sessions: where and since when, and a way to end any of them.

    POST `revoke` is a session's id, or `others` for every session but this one; POST `forget`
    is a remembered browser's id, or `all`. Another person's session or browser id is the same
    404 as a missing one. Ending every other session needs a fresh proof of identity (ASVS 5.0
    V7.5.2): whoever holds a stolen session must not be able to shut the person out of theirs.
    """
    current_key = request.session.session_key
    if request.method == "POST" and "forget" in request.POST:
        return _remembered_browser_forget(request)
    if request.method == "POST":
        form = RevokeSessionForm(request.POST)
        if not form.is_valid():
            raise BadRequest("Say which session to end.")
        choice = form.cleaned_data["revoke"]
        if choice == RevokeSessionForm.OTHERS:
            demand = fresh_proof_demand(request)
            if demand is not None:
                return demand
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
        try:
            session = session_for_user_by_id(user=request.user, session_id=int(choice))
        except Http404:
            access.other_person_refusal_record(
                request=request, model=UserSession, object_id=int(choice)
            )
            raise
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
    this_browser = remembered_browser_token(request)
    this_browser_hash = token_hash(this_browser) if this_browser else None
    browsers = [
        {
            "browser": browser,
            "device": str(device_from_user_agent(browser.user_agent)),
            "is_current": browser.token_hash == this_browser_hash,
        }
        for browser in remembered_browsers_for_user(user=request.user)
    ]
    return render(
        request,
        "teams/sessions.html",
        {
            "rows": rows,
            "has_others": any(not row["is_current"] for row in rows),
            "browsers": browsers,
        },
    )


def _remembered_browser_forget(request: HttpRequest) -> HttpResponse:
    form = ForgetBrowserForm(request.POST)
    if not form.is_valid():
        raise BadRequest(_("Say which browser to forget."))
    choice = form.cleaned_data["forget"]
    browser_id = None
    if choice != ForgetBrowserForm.ALL:
        try:
            browser_id = remembered_browser_for_user_by_id(
                user=request.user, browser_id=int(choice)
            ).pk
        except Http404:
            access.other_person_refusal_record(
                request=request, model=RememberedBrowser, object_id=int(choice)
            )
            raise
    this_browser_was_remembered = _this_browser_remembered(request)
    forgotten = remembered_browsers_forget(
        user=request.user,
        actor=request.user,
        reason="forgotten by its owner",
        request=request,
        browser_id=browser_id,
    )
    messages.success(
        request,
        ngettext(
            "Forgot %(count)d browser: it will ask for a code at the next sign-in.",
            "Forgot %(count)d browsers: they will ask for a code at the next sign-in.",
            forgotten,
        )
        % {"count": forgotten},
    )
    response = redirect("teams:sessions")
    if this_browser_was_remembered and not _this_browser_remembered(request):
        remembered_browser_cookie_delete(response)
    return response


def _this_browser_remembered(request: HttpRequest) -> bool:
    """Is this browser's cookie a remembered browser of the signed-in person? (A browser
    shared with somebody else may hold theirs, which is not this person's to drop.)"""
    token = remembered_browser_token(request)
    return token is not None and (
        remembered_browsers_for_user(user=request.user)
        .filter(token_hash=token_hash(token))
        .exists()
    )
