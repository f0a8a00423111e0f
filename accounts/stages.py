"""The steps of a sign-in after the password, which apps above accounts plug in.

accounts runs the sign-in but knows nothing of second factors: mfa registers its step here
from `MfaConfig.ready()` (as django-allauth's mfa plugs its stage into account's login), so
accounts never imports mfa.
"""

from collections.abc import Callable

from django.http import HttpRequest

# A step starts right after the password: it returns the address of its page when the sign-in
# must wait for it, or None when it has nothing to ask of this person.
SignInStepBegin = Callable[..., str | None]

_steps: list[SignInStepBegin] = []


def sign_in_step_register(begin: SignInStepBegin) -> None:
    if begin not in _steps:
        _steps.append(begin)


def sign_in_step_due(*, request: HttpRequest, user) -> str | None:
    """Begin the registered steps in order; the address of the first one that is due."""
    for begin in _steps:
        address = begin(request=request, user=user)
        if address is not None:
            return address
    return None
