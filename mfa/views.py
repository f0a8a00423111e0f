from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from accounts.proofs import reauthentication_record
from accounts.sign_in import pending_sign_in_user
from accounts.views import next_url_for
from mfa.forms import ReauthenticateForm, SecondStepBackupForm, SecondStepForm
from mfa.passkeys.services import passkey_proof_verify, passkey_second_step_begin
from mfa.selectors import (
    SignInStage,
    code_factor_exists,
    codes_accepted_for,
    confirmed_factor_exists,
    mfa_overview_for_user,
    passkey_exists_for,
    sign_in_stage,
)
from mfa.services import LOCKED, factor_proof_verify, second_step_verify
from teams.selectors import remember_browser_days_for
from teams.services.remembered_browsers import remembered_browser_cookie_set


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


def backup_codes_left_message(left: int) -> str:
    if left == 0:
        return _(
            "You used your last backup code. Make new ones on the two-factor page before you "
            "need one again."
        )
    return ngettext(
        "You used a backup code: %(left)d is left, and each works once. Lost your phone? Set up "
        "your authenticator app again on the two-factor page.",
        "You used a backup code: %(left)d are left, and each works once. Lost your phone? Set up "
        "your authenticator app again on the two-factor page.",
        left,
    ) % {"left": left}


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
    # No "don't ask on this browser" with a backup code: whoever types one has usually lost
    # their phone, and a remembered browser would skip the step that asks for a new app.
    form = form_class(
        request.POST if request.method == "POST" else None,
        remember_days=0 if backup else remember_browser_days_for(user=user),
    )
    if form.is_valid():
        check = second_step_verify(
            request=request,
            user=user,
            token=form.cleaned_data["otp_token"],
            remember=form.cleaned_data.get("remember", False),
        )
        if check.verified:
            if check.codes_left is not None:
                messages.warning(request, backup_codes_left_message(check.codes_left))
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
    """The proof page: the password, and the person's second factor when they have one
    (teams/proofs.py says what the proof is then good for)."""
    next_url = next_url_for(request, default="mfa:overview")
    user = request.user
    factor_asked = confirmed_factor_exists(user=user)
    passkey_offered = factor_asked and passkey_exists_for(user=user)
    form = ReauthenticateForm(
        request.POST if request.method == "POST" else None,
        request=request,
        code_asked=factor_asked and code_factor_exists(user=user),
        passkey_offered=passkey_offered,
    )
    if form.is_valid():
        factor = _proof_factor_check(request, form) if factor_asked else None
        if not factor_asked or factor is not None:
            reauthentication_record(request=request, factor=factor)
            return redirect(next_url)
    return render(
        request,
        "mfa/reauthenticate.html",
        {
            "form": form,
            "next": next_url,
            "factor_asked": factor_asked,
            "passkey_options": passkey_second_step_begin(request=request, user=user)
            if passkey_offered
            else None,
        },
    )


def _proof_factor_check(request: HttpRequest, form: ReauthenticateForm) -> str | None:
    """Check the factor sent with a right password: the kind proved, or None with the refusal
    added to the form."""
    answer = form.cleaned_data.get("credential")
    if answer:
        check = passkey_proof_verify(request=request, user=request.user, answer=answer)
        if check.verified:
            return "passkey"
        reason = LOCKED if check.reason == LOCKED else "passkey_failed"
        form.add_error(None, ValidationError(form.error_messages[reason], code=reason))
        return None
    check = factor_proof_verify(
        request=request, user=request.user, token=form.cleaned_data.get("otp_token", "")
    )
    if check.verified:
        return "code"
    form.refusal_add(check)
    return None
