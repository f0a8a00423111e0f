from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts.gates import (
    SignInRefusedByAccessList,
    SignInRefusedByLock,
    SignInRefusedInactive,
)
from accounts.views import next_url_for, typed_email_keep
from sso import client
from sso.forms import SingleSignOnStartForm
from sso.models import IdentityProvider
from sso.selectors import provider_for_email
from sso.services import (
    SignInThroughProviderRefused,
    logout_refusals_exceeded,
    logout_token_refuse,
    provider_logout,
    sign_in_through_provider,
    sign_in_through_provider_fail,
)
from teams.notices import access_list_refusal

# The sign-in through a provider under way in this browser: which provider, and where to go
# afterwards. Authlib keeps the state, nonce and PKCE verifier beside it.
FLOW_SESSION_KEY = "sso_flow"

REFUSALS = {
    "person_bound_to_another_subject": gettext_lazy(
        "Your account here is already linked to a different account at your organisation's "
        "sign-in. Ask your MSP's owner to check it."
    ),
    "subject_of_another_tenant": gettext_lazy(
        "That account at your organisation's sign-in belongs to another MSP here."
    ),
    "email_not_verified": gettext_lazy(
        "Your organisation's sign-in didn't confirm your email address, so it can't be matched "
        "to an account here. Ask your MSP's owner."
    ),
    "provider_address_refused": gettext_lazy(
        "Your organisation's sign-in is set up at an address this site doesn't contact. Ask "
        "your MSP's owner to check the provider's discovery URL."
    ),
    "claims_invalid": gettext_lazy(
        "Your organisation's sign-in sent an email address or name this site can't accept, "
        "so no account was made for you. Ask your MSP's owner."
    ),
    "provider_unreachable": gettext_lazy(
        "Your organisation's sign-in didn't answer. Try again in a minute."
    ),
}
REFUSED_DEFAULT = gettext_lazy(
    "That sign-in didn't work and you are not signed in. Start again from the sign-in page; "
    "if it keeps failing, ask your MSP's owner."
)


def _refused(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    response = render(
        request,
        "sso/refused.html",
        {"message": REFUSALS.get(reason, REFUSED_DEFAULT)},
        status=status,
    )
    add_never_cache_headers(response)
    return response


@never_cache
@require_POST
@sensitive_post_parameters("password")
def sso_start(request: HttpRequest) -> HttpResponse:
    """Home-realm discovery: the typed email's domain names the tenant and its provider, and
    the browser goes there. The sign-in page's password, if one was typed, is ignored."""
    form = SingleSignOnStartForm(request.POST)
    if not form.is_valid():
        for message in form.errors["username"]:
            messages.error(request, message)
        typed_email_keep(request, request.POST.get("username", "").strip())
        return redirect("accounts:login")
    email = form.cleaned_data["username"]
    provider = provider_for_email(email=email)
    if provider is None:
        messages.error(
            request,
            _(
                "Single sign-on is not set up for that email's domain. Sign in with your "
                "password, or check the email."
            ),
        )
        typed_email_keep(request, email)
        return redirect("accounts:login")
    request.session[FLOW_SESSION_KEY] = {"provider": provider.pk, "next": next_url_for(request)}
    try:
        redirect_to_provider = client.authorization_redirect(
            request=request, provider=provider, login_hint=email
        )
    except client.IdentityRefused as refusal:
        return _refused(request, refusal.reason, status=502)
    # A page that moves on by itself rather than a redirect: the sign-in page's form posts
    # here, and browsers hold a form's redirects to the posting page's CSP `form-action`
    # ('self'), which no provider's address is on.
    return render(
        request,
        "sso/to_provider.html",
        {"provider": provider, "location": redirect_to_provider["Location"]},
    )


@never_cache
@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """Where providers send people back (`client.redirect_uri()`)."""
    flow = request.session.pop(FLOW_SESSION_KEY, None)
    provider = (
        IdentityProvider.objects.filter(pk=flow.get("provider"), enabled=True)
        .select_related("tenant", "new_person_role")
        .first()
        if isinstance(flow, dict)
        else None
    )
    if provider is None:
        sign_in_through_provider_fail(request=request, provider=None, reason="no_sign_in_started")
        return _refused(request, "no_sign_in_started", status=400)
    try:
        claims = client.identity_from_callback(request=request, provider=provider)
    except client.IdentityRefused as refusal:
        sign_in_through_provider_fail(
            request=request, provider=provider, reason=refusal.reason, claims=refusal.claims
        )
        return _refused(request, refusal.reason, status=400)
    try:
        step_due = sign_in_through_provider(request=request, provider=provider, claims=claims)
    except SignInThroughProviderRefused as refusal:
        return _refused(request, refusal.reason, status=403)
    except SignInRefusedByLock:
        # axes' middleware answers with the lock notice (accounts.views.lockout_notice).
        return _refused(request, "locked", status=429)
    except SignInRefusedInactive:
        return _refused(request, "inactive", status=403)
    except SignInRefusedByAccessList:
        return access_list_refusal(request, tenant=provider.tenant)
    after = flow.get("next") or ""
    if not after.startswith("/") or after.startswith("//"):
        after = "/"
    if step_due is not None:
        return redirect(f"{step_due}?{urlencode({'next': after})}")
    return redirect(after)


@csrf_exempt
@never_cache
@require_POST
@sensitive_post_parameters("logout_token")
def backchannel_logout(request: HttpRequest, provider_id: int) -> HttpResponse:
    """OpenID Connect Back-Channel Logout 1.0: the provider posts a signed `logout_token`
    (form-encoded, server to server, no cookie and no CSRF token: the token's signature is the
    request's only credential) and the sessions it names end. 200 with an empty body when the
    token is good (whether or not a session matched); 400 with a JSON `error` when it isn't;
    429 once the client address has had too many refused this minute. Never cached."""
    provider = IdentityProvider.objects.filter(pk=provider_id).select_related("tenant").first()
    if provider is None:
        raise Http404("No such provider.")
    if logout_refusals_exceeded(request=request):
        return HttpResponse(status=429, headers={"Retry-After": "60"})
    try:
        claims = client.logout_token_claims(
            provider=provider, token=request.POST.get("logout_token", "")
        )
        provider_logout(provider=provider, claims=claims, request=request)
    except client.LogoutTokenRefused as refusal:
        logout_token_refuse(provider=provider, reason=refusal.reason, request=request)
        return JsonResponse(
            {"error": "invalid_request", "error_description": refusal.reason}, status=400
        )
    return HttpResponse(status=200)
