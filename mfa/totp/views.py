from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from mfa.backup_codes.views import backup_codes_shown_once
from mfa.forms import SignOutOthersForm
from mfa.selectors import (
    mfa_overview_for_user,
    totp_config_uri,
    totp_secret_for_display,
    totp_setup_device_for_request,
)
from mfa.services import (
    STEP_NOT_DUE,
    totp_device_confirm,
    totp_device_remove,
    totp_device_setup_start,
)
from mfa.totp.forms import TOTPConfirmForm
from mfa.totp.qr import qr_code_svg
from mfa.views import next_url_for, sign_in_person
from teams.proofs import fresh_proof_required


@never_cache
@fresh_proof_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, then a code from the app to confirm.

    Also a step of a sign-in when MFA is required and the person has no factor yet. A reload
    keeps the same secret (the person may have scanned it already); a setup left longer than
    MFA_SETUP_MINUTES, or begun in another session, is replaced by a new one.
    """
    next_url = next_url_for(request, default="mfa:overview")
    user = sign_in_person(request, "enrol")
    if user is None:
        return redirect_to_login(request.get_full_path())
    device = totp_setup_device_for_request(request=request, user=user)
    if request.method == "POST":
        form = TOTPConfirmForm(request.POST)
        if device is None:
            messages.error(request, _("That setup had expired. Scan this new QR code instead."))
            return redirect(f"{reverse('mfa:totp-setup')}?{urlencode({'next': next_url})}")
        if form.is_valid():
            check = totp_device_confirm(
                request=request,
                user=user,
                device=device,
                token=form.cleaned_data["otp_token"],
                sign_out_others=form.cleaned_data["sign_out_others"],
            )
            if check.reason == STEP_NOT_DUE:
                return redirect_to_login(next_url)
            if check.verified:
                if check.next_step is not None:
                    next_url = f"{check.next_step}?{urlencode({'next': next_url})}"
                messages.success(
                    request,
                    _("Your authenticator app is set up: signing in now asks for a code from it."),
                )
                if check.backup_codes:
                    return backup_codes_shown_once(
                        request, check.backup_codes, next_url, person=user
                    )
                return redirect(next_url)
            form.refusal_add(check)
    else:
        form = TOTPConfirmForm()
        if device is None:
            device = totp_device_setup_start(request=request, user=user)
    overview = mfa_overview_for_user(user=user)
    config_uri = totp_config_uri(device=device)
    return render(
        request,
        "mfa/totp_setup.html",
        {
            "form": form,
            "next": next_url,
            "qr_code": qr_code_svg(config_uri),
            "config_uri": config_uri,
            "at_sign_in_step": not request.user.is_authenticated
            or (overview.required and overview.totp_device is None),
            "secret": totp_secret_for_display(device=device),
            "replacing": overview.totp_device is not None,
            "required": overview.required,
            "device": device,
            "person": user,
        },
    )


@never_cache
@login_required
@fresh_proof_required
@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest) -> HttpResponse:
    overview = mfa_overview_for_user(user=request.user)
    if overview.totp_device is None:
        return redirect("mfa:overview")
    form = SignOutOthersForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            totp_device_remove(
                request=request,
                user=request.user,
                sign_out_others=form.cleaned_data["sign_out_others"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Two-factor authentication is off."))
        return redirect("mfa:overview")
    return render(request, "mfa/totp_remove.html", {"mfa": overview, "form": form})
