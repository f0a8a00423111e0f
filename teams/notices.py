"""What a person is told when their session ends without them signing out, or when the
tenant's IP access list keeps them out."""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_noop

from audit.client import client_ip
from teams.models import Tenant
from teams.selectors import LIFETIME, SINGLE_SIGN_ON_MAX_AGE, unlock_contact_for_tenant

# Kept in the session store in place of an ended session's data, so the person's next request
# (anonymous by then) can be told why.
ENDED_NOTE_KEY = "_portcullis_session_ended"

# Marked, not translated here: it is stored as it is and translated when shown
# (teams.middleware), in the language of whoever reads it.
SESSION_ENDED = gettext_noop("This session was ended. Sign in again to continue.")
SESSION_ENDED_BY_PROVIDER = gettext_noop(
    "You were signed out because your organisation's sign-in ended your session there. "
    "Sign in again to continue."
)


def duration_in_words(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not hours:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def session_expired(*, reason: str, limit: timedelta) -> str:
    if reason == SINGLE_SIGN_ON_MAX_AGE:
        return (
            f"You were signed out because your MSP asks your organisation's sign-in again "
            f"every {duration_in_words(limit)}. Sign in again to continue."
        )
    if reason == LIFETIME:
        return (
            f"You were signed out because a session lasts at most {duration_in_words(limit)}. "
            "Sign in again to continue."
        )
    return (
        f"You were signed out after {duration_in_words(limit)} without activity. "
        "Sign in again to continue."
    )


def session_limit_reached(*, limit: int) -> str:
    return (
        f"You were signed out here because you signed in elsewhere, and at most {limit} "
        f"session{'s' if limit != 1 else ''} may be open at once. Sign in again to continue."
    )


def access_list_refusal(request: HttpRequest, *, tenant: Tenant | None) -> HttpResponse:
    """The page for a sign-in or a session from an address outside the tenant's IP access
    list: 403, never cached, naming who in the MSP to ask."""
    response = render(
        request,
        "teams/access_refused.html",
        {"contact": unlock_contact_for_tenant(tenant=tenant), "ip": client_ip(request)},
        status=403,
    )
    add_never_cache_headers(response)
    return response
