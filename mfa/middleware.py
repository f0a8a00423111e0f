from django.http import HttpRequest, HttpResponse

from accounts.middleware import ALWAYS_ALLOWED_AT_A_STEP, redirect_to_step, view_allowed
from accounts.stages import second_factor_by_provider
from mfa.selectors import SignInStage, sign_in_stage

# The only views a signed-in session that lacks a factor may reach: its step, a new password
# (so a password due at the same time is dealt with first, not in a redirect loop), and what a
# pending sign-in may always reach (sign-out, health, the help center). Everything else, the
# admin included, redirects to the step.
ALLOWED_WHILE_SECOND_STEP_DUE = ALWAYS_ALLOWED_AT_A_STEP | {
    "mfa:verify",
    "mfa:passkey-verify",
    "accounts:password_change",
}
ALLOWED_WHILE_ENROLMENT_DUE = ALWAYS_ALLOWED_AT_A_STEP | {
    "mfa:totp-setup",
    "mfa:reauthenticate",
    "accounts:password_change",
}
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

    A session whose second factor was the identity provider's (single sign-on, when the
    tenant accepts it) has no device of ours verified, and needs none.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        stage = sign_in_stage(user=request.user)
        if (
            stage in ALLOWED_VIEWS
            and not view_allowed(request, ALLOWED_VIEWS[stage])
            and not second_factor_by_provider(request)
        ):
            return redirect_to_step(request, STEP_URL_NAMES[stage])
        return self.get_response(request)
