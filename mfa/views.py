from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from mfa.forms import ReauthenticateForm, SecondStepForm
from mfa.selectors import (
    SignInStage,
    mfa_overview_for_user,
    proof_is_fresh,
    sign_in_stage,
)
from mfa.services import proof_record, second_step_verify


def next_url_for(request: HttpRequest, default: str = "dashboard") -> str:
    """Where to go afterwards: the `next` the request names, if it stays on this site.

    Only a path is taken: `redirect()` would try a bare word such as "dashboard" as a URL name
    and fail with an error instead of a redirect."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if (
        candidate
        and candidate.startswith("/")
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return resolve_url(default)


def reauthenticate_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    query = urlencode({"next": next_url or request.get_full_path()})
    return redirect(f"{reverse('mfa:reauthenticate')}?{query}")


def fresh_proof_required(view):
    """Changing factors needs the password proved in the last few minutes; else ask for it."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not proof_is_fresh(request=request):
            return reauthenticate_redirect(request)
        return view(request, *args, **kwargs)

    return wrapped


@never_cache
@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "mfa/overview.html", {"mfa": mfa_overview_for_user(user=request.user)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_step(request: HttpRequest) -> HttpResponse:
    next_url = next_url_for(request)
    if sign_in_stage(user=request.user) is not SignInStage.SECOND_STEP_DUE:
        return redirect(next_url)
    form = SecondStepForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        check = second_step_verify(
            request=request, user=request.user, token=form.cleaned_data["otp_token"]
        )
        if check.verified:
            return redirect(next_url)
        form.refusal_add(check)
    return render(
        request,
        "mfa/verify.html",
        {"form": form, "next": next_url, "server_time": timezone.now()},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    next_url = next_url_for(request, default="mfa:overview")
    form = ReauthenticateForm(request.POST if request.method == "POST" else None, request=request)
    if form.is_valid():
        proof_record(request=request)
        return redirect(next_url)
    return render(request, "mfa/reauthenticate.html", {"form": form, "next": next_url})
