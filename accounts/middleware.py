from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from accounts.selectors import password_change_reason
from accounts.sign_in import attempt_waiting, pending_sign_in_refused_by_access_list
from accounts.stages import sign_in_step
from teams.notices import access_list_refusal

# Pages open to a session held at a step, besides the step's own: signing out (which abandons
# a pending sign-in), the health check, choosing a language, the browser's CSP reports, and the
# help center and "Can't sign in?", which are for exactly the people stuck at a step. Static
# files are served by whitenoise before any of this.
ALWAYS_ALLOWED_AT_A_STEP = frozenset(
    {
        "accounts:logout",
        "csp_report",
        "healthz",
        "set_language",
        "support:help",
        "support:guide",
        "support:recovery",
        "support:recovery_sent",
    }
)


def view_allowed(request: HttpRequest, view_names: frozenset[str]) -> bool:
    """Whether the request is for one of the named views (or a static file)."""
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in view_names


def redirect_to_step(request: HttpRequest, url_name: str) -> HttpResponse:
    """To a step's page; a page someone was opening comes back as `next`."""
    url = reverse(url_name)
    if request.method in ("GET", "HEAD"):
        url = f"{url}?{urlencode({'next': request.get_full_path()})}"
    return redirect(url)


class PendingSignInMiddleware:
    """Hold a session whose sign-in attempt waits at the step it still needs.

    The session is anonymous until the last step (accounts/sign_in.py), so no page would let it
    in anyway; this sends it to its step instead of the sign-in form, the admin included. The
    steps are derived again here, at every request, from the policy as it is now: a step no
    longer due (its person enrolled a factor meanwhile, say) lets no page of it through, and
    the browser goes to the step that is. An attempt that timed out, or whose person or password
    changed, is dropped, and the session is simply signed out. One from an address the person's
    tenant no longer lets in ends with the refusal page, whatever page was asked for (the
    step's own included).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            attempt = attempt_waiting(request)
            if attempt is not None:
                refused = pending_sign_in_refused_by_access_list(request=request)
                if refused is not None:
                    return access_list_refusal(request, tenant=refused.tenant)
                step = sign_in_step(attempt.due[0])
                allowed = ALWAYS_ALLOWED_AT_A_STEP | step.also_allowed | {step.url_name}
                if not view_allowed(request, allowed):
                    return redirect_to_step(request, step.url_name)
        return self.get_response(request)


class PasswordChangeRequiredMiddleware:
    """A signed-in person whose password must change (it expired under their tenant's policy,
    or their account says so) goes to the change page before anything else: every other page,
    the admin included, redirects there. Signing out still works.

    At sign-in the new password is a step of its own (registered in AccountsConfig), so this
    only catches a password that expires, or is required, during a session.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.path_info not in self._allowed_paths()
            and password_change_reason(user=user)
        ):
            return redirect("accounts:password_change")
        return self.get_response(request)

    @staticmethod
    def _allowed_paths() -> set[str]:
        return {
            reverse("accounts:password_change"),
            reverse("accounts:logout"),
            reverse("healthz"),
            reverse("set_language"),
            reverse("csp_report"),
        }
