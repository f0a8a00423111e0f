from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from accounts.proofs import password_proof_is_fresh, reauthentication_record
from accounts.sign_in import pending_sign_in_user
from accounts.views import next_url_for
from mfa.forms import ReauthenticateForm, SecondStepBackupForm, SecondStepForm
from mfa.passkeys.services import passkey_second_step_begin
from mfa.selectors import (
    SignInStage,
    codes_accepted_for,
    mfa_overview_for_user,
    passkey_exists_for,
    sign_in_stage,
)
from mfa.services import second_step_verify
from teams.selectors import remember_browser_days_for
from teams.services.remembered_browsers import remembered_browser_cookie_set


def reauthenticate_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    query = urlencode({"next": next_url or request.get_full_path()})
    return redirect(f"{reverse('mfa:reauthenticate')}?{query}")


def fresh_proof_required(view):
    """Changing factors needs the password proved in the last few minutes; else ask for it.

    A pending sign-in is its own proof: its password was just checked, and its pages admit
    only the person it names."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and not password_proof_is_fresh(request=request):
            return reauthenticate_redirect(request)
        return view(request, *args, **kwargs)

    return wrapped


@never_cache
@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "mfa/overview.html", {"mfa": mfa_overview_for_user(user=request.user)})


def sign_in_person(request: HttpRequest, step: str) -> User | None:
    """Who a second-factor page is for: the signed-in person, or the person whose pending
    sign-in waits at `step` in this session."""
    if request.user.is_authenticated:
        return request.user
    return pending_sign_in_user(request=request, step=step)


def after_step(next_step: str | None, next_url: str) -> HttpResponse:
    """Go on to the sign-in step still due (keeping where the person was going), or there."""
    if next_step is not None:
        return redirect(f"{next_step}?{urlencode({'next': next_url})}")
    return redirect(next_url)


@never_cache
@require_http_methods(["GET", "POST"])
def second_step(request: HttpRequest) -> HttpResponse:
    next_url = next_url_for(request)
    user = sign_in_person(request, "verify")
    if user is None:
        return redirect_to_login(next_url)
    if (
        request.user.is_authenticated
        and sign_in_stage(user=user) is not SignInStage.SECOND_STEP_DUE
    ):
        return redirect(next_url)
    backup = request.GET.get("code") == "backup"
    form_class = SecondStepBackupForm if backup else SecondStepForm
    form = form_class(
        request.POST if request.method == "POST" else None,
        remember_days=remember_browser_days_for(user=user),
    )
    if form.is_valid():
        check = second_step_verify(
            request=request,
            user=user,
            token=form.cleaned_data["otp_token"],
            remember=form.cleaned_data.get("remember", False),
        )
        if check.verified:
            response = after_step(check.next_step, next_url)
            if check.remembered is not None:
                remembered_browser_cookie_set(response, check.remembered)
            return response
        form.refusal_add(check)
    return render(
        request,
        "mfa/verify.html",
        {
            "form": form,
            "next": next_url,
            "person": user,
            "server_time": timezone.now(),
            "passkey_options": passkey_second_step_begin(request=request, user=user)
            if passkey_exists_for(user=user)
            else None,
            "codes_accepted": codes_accepted_for(user=user),
            "backup": backup,
            "app_query": urlencode({"next": next_url}),
            "backup_query": urlencode({"next": next_url, "code": "backup"}),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    next_url = next_url_for(request, default="mfa:overview")
    form = ReauthenticateForm(request.POST if request.method == "POST" else None, request=request)
    if form.is_valid():
        reauthentication_record(request=request)
        return redirect(next_url)
    return render(request, "mfa/reauthenticate.html", {"form": form, "next": next_url})
