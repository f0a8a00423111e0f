from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from mfa.selectors import SignInStage, sign_in_stage

# The only views a session may reach while its sign-in is incomplete. Everything else, the admin
# included, answers with a redirect to the step that is due. Static files are served by
# whitenoise before any of this runs; the prefix is here for servers without it.
# The help center and "Can't sign in?" are for exactly the people stuck at a step.
HELP_VIEWS = frozenset(
    {"support:help", "support:guide", "support:recovery", "support:recovery_sent"}
)
ALLOWED_WHILE_SECOND_STEP_DUE = (
    frozenset({"mfa:verify", "accounts:logout", "accounts:password_change", "healthz"}) | HELP_VIEWS
)
ALLOWED_WHILE_ENROLMENT_DUE = (
    frozenset(
        {
            "mfa:totp-setup",
            "mfa:reauthenticate",
            "accounts:logout",
            "accounts:password_change",
            "healthz",
        }
    )
    | HELP_VIEWS
)
STEP_URL_NAMES = {
    SignInStage.SECOND_STEP_DUE: "mfa:verify",
    SignInStage.ENROLMENT_DUE: "mfa:totp-setup",
}
ALLOWED_VIEWS = {
    SignInStage.SECOND_STEP_DUE: ALLOWED_WHILE_SECOND_STEP_DUE,
    SignInStage.ENROLMENT_DUE: ALLOWED_WHILE_ENROLMENT_DUE,
}


class SecondStepMiddleware:
    """Hold a signed-in session that lacks a factor it now needs.

    Sign-ins themselves wait at their steps before anyone is signed in (accounts/stages.py).
    This catches what changes afterwards: a person whose tenant or role starts requiring MFA
    while they are signed in goes to enrolment, and a session of a person who has since
    enrolled a factor elsewhere goes to the second step. Runs after django-otp's OTPMiddleware.

    The password-change page stays open here, so a password that must change at the same time
    is dealt with first instead of the two middlewares redirecting each other in a loop.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        stage = sign_in_stage(user=request.user)
        if stage in ALLOWED_VIEWS and not self._allowed(request, ALLOWED_VIEWS[stage]):
            return self._to_step(request, STEP_URL_NAMES[stage])
        return self.get_response(request)

    @staticmethod
    def _allowed(request: HttpRequest, view_names: frozenset[str]) -> bool:
        if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return True
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in view_names

    @staticmethod
    def _to_step(request: HttpRequest, url_name: str) -> HttpResponse:
        url = reverse(url_name)
        if request.method in ("GET", "HEAD"):
            url = f"{url}?{urlencode({'next': request.get_full_path()})}"
        return redirect(url)
