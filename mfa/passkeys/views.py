"""Passkey pages: add, rename and remove one's own; prove one at the second step; sign in with
one alone. The browser side is static/js/passkeys.js; it puts the browser's answer in a hidden
field and posts an ordinary form, so every page keeps the site's strict CSP and CSRF check."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.views import next_url_for, remembered_tenant_set
from mfa.apps import PASSKEY_ENROL_STEP
from mfa.forms import SignOutOthersForm
from mfa.models import PasskeyDevice
from mfa.passkeys.forms import PasskeyAddForm, PasskeyAnswerForm, PasskeyRenameForm
from mfa.passkeys.services import (
    ACCESS_LIST,
    LOCKED,
    SINGLE_SIGN_ON_REQUIRED,
    passkey_register,
    passkey_registration_begin,
    passkey_remove,
    passkey_rename,
    passkey_second_step_verify,
    passkey_sign_in,
    passkey_sign_in_begin,
)
from mfa.selectors import (
    PASSWORDLESS_OFF,
    SignInStage,
    passkey_for_user_by_id,
    phishing_resistant_required_for,
    sign_in_stage,
)
from mfa.views import after_step, sign_in_person
from teams import access
from teams.notices import access_list_refusal
from teams.proofs import fresh_proof_required

REFUSALS = {
    LOCKED: gettext_lazy("This account is locked after too many failed attempts. Try again later."),
    PASSWORDLESS_OFF: gettext_lazy(
        "Your organisation doesn't allow signing in with a passkey alone. Sign in with your "
        "email and password; then use your passkey for the second step."
    ),
    SINGLE_SIGN_ON_REQUIRED: gettext_lazy(
        "Your MSP signs you in with your organisation's sign-in. Type your email on the sign-in "
        "page and continue there; your passkey may still be asked for the second step."
    ),
}


def _refusal(reason: str) -> str:
    return str(
        REFUSALS.get(
            reason,
            _(
                "That passkey didn't work. Try again, or use another way to sign in; if it "
                "keeps failing, see the help center's passkeys guide."
            ),
        )
    )


@never_cache
@fresh_proof_required
@require_http_methods(["GET", "POST"])
def add(request: HttpRequest) -> HttpResponse:
    """Register a passkey: name it, then the browser makes it.

    Also a step of a sign-in when the person's role requires a passkey and they have none.
    """
    next_url = next_url_for(request, default="mfa:overview")
    user = sign_in_person(request, PASSKEY_ENROL_STEP)
    if user is None:
        return redirect_to_login(request.get_full_path())
    form = PasskeyAddForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            _passkey, next_step = passkey_register(
                request=request,
                user=user,
                name=form.cleaned_data["name"],
                answer=form.cleaned_data["credential"],
                sign_out_others=form.cleaned_data["sign_out_others"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Your passkey is added."))
            return after_step(next_step, next_url)
    return render(
        request,
        "mfa/passkey_add.html",
        {
            "form": form,
            "next": next_url,
            "options": passkey_registration_begin(request=request, user=user),
            "required": phishing_resistant_required_for(user=user),
            "person": user,
        },
    )


def _own_passkey(request: HttpRequest, passkey_id: int):
    passkey = passkey_for_user_by_id(user=request.user, passkey_id=passkey_id)
    if passkey is None:
        access.other_person_refusal_record(
            request=request, model=PasskeyDevice, object_id=passkey_id
        )
        raise Http404
    return passkey


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def rename(request: HttpRequest, passkey_id: int) -> HttpResponse:
    passkey = _own_passkey(request, passkey_id)
    form = PasskeyRenameForm(
        request.POST if request.method == "POST" else None, initial={"name": passkey.name}
    )
    if form.is_valid():
        passkey_rename(
            request=request, user=request.user, passkey=passkey, name=form.cleaned_data["name"]
        )
        messages.success(request, _("Passkey renamed."))
        return redirect("mfa:overview")
    return render(request, "mfa/passkey_rename.html", {"form": form, "passkey": passkey})


@never_cache
@login_required
@fresh_proof_required
@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest, passkey_id: int) -> HttpResponse:
    passkey = _own_passkey(request, passkey_id)
    form = SignOutOthersForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            passkey_remove(
                request=request,
                user=request.user,
                passkey=passkey,
                sign_out_others=form.cleaned_data["sign_out_others"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Passkey removed."))
        return redirect("mfa:overview")
    return render(request, "mfa/passkey_remove.html", {"passkey": passkey, "form": form})


@never_cache
@require_POST
def second_step(request: HttpRequest) -> HttpResponse:
    """The second step with a passkey; its button is on the second-step page."""
    next_url = next_url_for(request)
    user = sign_in_person(request, "verify")
    if user is None:
        return redirect_to_login(next_url)
    if (
        request.user.is_authenticated
        and sign_in_stage(user=user) is not SignInStage.SECOND_STEP_DUE
    ):
        return redirect(next_url)
    form = PasskeyAnswerForm(request.POST)
    if form.is_valid():
        check = passkey_second_step_verify(
            request=request, user=user, answer=form.cleaned_data["credential"]
        )
        if check.verified:
            return after_step(check.next_step, next_url)
        messages.error(request, _refusal(check.reason))
    else:
        messages.error(request, " ".join(form.errors["credential"]))
    return redirect(f"{reverse('mfa:verify')}?{urlencode({'next': next_url})}")


@never_cache
@require_POST
def sign_in_options(request: HttpRequest) -> HttpResponse:
    """Options for signing in with a passkey alone, fetched by the sign-in page's script.

    Asked for only when the page's script runs, so a visit to the sign-in page writes no
    session of its own."""
    if request.user.is_authenticated:
        return JsonResponse({"error": "signed_in"}, status=400)
    return JsonResponse(passkey_sign_in_begin(request=request))


@never_cache
@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = next_url_for(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = PasskeyAnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["credential"]))
        return redirect_to_login(next_url)
    check = passkey_sign_in(request=request, answer=form.cleaned_data["credential"])
    if check.reason == ACCESS_LIST:
        return access_list_refusal(request, tenant=check.tenant)
    if not check.verified:
        messages.error(request, _refusal(check.reason))
        return redirect_to_login(next_url)
    response = after_step(check.next_step, next_url)
    remembered_tenant_set(response, user=check.user)
    return response
