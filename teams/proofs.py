"""Fresh proofs of identity: what this session proved lately, and the pages that ask for it.

A session holds when it last proved the person's password and when it last proved one of
their second factors (a sign-in's second step, a factor just enrolled, or the proof page,
/mfa/confirm-password/). A proof is fresh when the password was proved within the window and,
for a person with a confirmed second factor, that factor too (ASVS 5.0 V7.5.1: the proof
asked again matches the way the person signs in; a password alone proves nothing more than
a password). Changing factors, one's own email or role and ending one's other sessions ask for
one within MFA_FRESH_PROOF_MINUTES; the owners' high-impact settings within
HIGH_IMPACT_PROOF_MINUTES (V7.5.3).

Here in teams, the lowest layer that asks for a proof (the sessions page, the admin site);
audit's full export gets the same check handed over in `TeamsConfig.ready()`.
"""

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

PASSWORD_PROVED_AT_SESSION_KEY = "accounts_password_proved_at"  # noqa: S105 - a session key name
FACTOR_PROVED_AT_SESSION_KEY = "accounts_factor_proved_at"


def password_proof_record(*, request: HttpRequest) -> None:
    """This session has just proved the person's password."""
    request.session[PASSWORD_PROVED_AT_SESSION_KEY] = int(time.time())


def factor_proof_record(*, request: HttpRequest) -> None:
    """This session has just proved one of the person's second factors."""
    request.session[FACTOR_PROVED_AT_SESSION_KEY] = int(time.time())


def _proved_within(request: HttpRequest, key: str, minutes: int) -> bool:
    proved_at = request.session.get(key)
    if not isinstance(proved_at, int | float):
        return False
    return 0 <= time.time() - proved_at <= minutes * 60


def proof_is_fresh(*, request: HttpRequest, high_impact: bool = False) -> bool:
    """Has the signed-in person proved who they are recently enough: the password and, when
    they have a confirmed second factor, that factor too? `high_impact` measures against
    HIGH_IMPACT_PROOF_MINUTES instead of MFA_FRESH_PROOF_MINUTES."""
    minutes = (
        settings.HIGH_IMPACT_PROOF_MINUTES if high_impact else settings.MFA_FRESH_PROOF_MINUTES
    )
    if not _proved_within(request, PASSWORD_PROVED_AT_SESSION_KEY, minutes):
        return False
    return _proved_within(request, FACTOR_PROVED_AT_SESSION_KEY, minutes) or not user_has_device(
        request.user, confirmed=True
    )


def proof_page_url(next_url: str) -> str:
    """The proof page (the mfa app's, found by its URL name: teams sits below mfa), coming back
    to `next_url`."""
    return f"{reverse('mfa:reauthenticate')}?{urlencode({'next': next_url})}"


def proof_page_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    return redirect(proof_page_url(next_url or request.get_full_path()))


def fresh_proof_demand(request: HttpRequest, *, high_impact: bool = False) -> HttpResponse | None:
    """The redirect to the proof page when a signed-in person's proof is stale, else None.

    Nobody signed in passes: a page that must be signed in says so itself, and a pending
    sign-in is its own proof (its password was just checked, and its pages admit only the
    person it names)."""
    if request.user.is_authenticated and not proof_is_fresh(
        request=request, high_impact=high_impact
    ):
        return proof_page_redirect(request)
    return None


def high_impact_proof_demand(request: HttpRequest) -> HttpResponse | None:
    """`fresh_proof_demand` for the owners' high-impact settings, as audit's full export takes
    it (`audit.views.export_guard_register`)."""
    return fresh_proof_demand(request, high_impact=True)


def fresh_proof_required(view: Callable | None = None, *, high_impact: bool = False) -> Callable:
    """A view that asks for a fresh proof first (`fresh_proof_demand`), sending the person to
    the proof page and back. `@fresh_proof_required` for factor changes and the like,
    `@fresh_proof_required(high_impact=True)` for the owners' high-impact settings."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            return fresh_proof_demand(request, high_impact=high_impact) or view(
                request, *args, **kwargs
            )

        return wrapped

    return decorate(view) if view is not None else decorate
