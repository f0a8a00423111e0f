"""What a person is told when their session ends without them signing out, or when the
tenant's IP access list keeps them out."""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext, ngettext

from audit.client import client_ip
from teams.models import Tenant
from teams.selectors import LIFETIME, SINGLE_SIGN_ON_MAX_AGE, unlock_contact_for_tenant

# Kept in the session store in place of an ended session's data, so the person's next request
# (anonymous by then) can be told why.
ENDED_NOTE_KEY = "_portcullis_session_ended"

# A note is stored as data ({"kind": ..., and its numbers}), not as a sentence: whoever ended
# the session wrote it in their own language, and the person reading it may use another.
# `note_text` words it when shown, in the reader's language.
ENDED = "ended"
ENDED_BY_PROVIDER = "ended_by_provider"
EXPIRED = "expired"
SESSION_LIMIT = "session_limit"

SESSION_ENDED = {"kind": ENDED}
SESSION_ENDED_BY_PROVIDER = {"kind": ENDED_BY_PROVIDER}


def session_expired(*, reason: str, limit: timedelta) -> dict:
    return {"kind": EXPIRED, "reason": reason, "minutes": int(limit.total_seconds() // 60)}


def session_limit_reached(*, limit: int) -> dict:
    return {"kind": SESSION_LIMIT, "limit": limit}


def duration_in_words(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if minutes or not hours:
        parts.append(
            ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
        )
    return " ".join(parts)


def note_text(note: dict | str) -> str:
    """The sentence for a stored note, in the active language. A note stored as an English
    sentence (before notes were data) is translated where the catalogue has it."""
    if isinstance(note, str):
        return gettext(note)
    kind = note.get("kind")
    if kind == ENDED_BY_PROVIDER:
        return gettext(
            "You were signed out because your organisation's sign-in ended your session there. "
            "Sign in again to continue."
        )
    if kind == SESSION_LIMIT:
        limit = note["limit"]
        return ngettext(
            "You were signed out here because you signed in elsewhere, and at most "
            "%(limit)d session may be open at once. Sign in again to continue.",
            "You were signed out here because you signed in elsewhere, and at most "
            "%(limit)d sessions may be open at once. Sign in again to continue.",
            limit,
        ) % {"limit": limit}
    if kind == EXPIRED:
        duration = duration_in_words(note["minutes"])
        if note["reason"] == SINGLE_SIGN_ON_MAX_AGE:
            text = gettext(
                "You were signed out because your MSP asks your organisation's sign-in again "
                "every %(duration)s. Sign in again to continue."
            )
        elif note["reason"] == LIFETIME:
            text = gettext(
                "You were signed out because a session lasts at most %(duration)s. "
                "Sign in again to continue."
            )
        else:
            text = gettext(
                "You were signed out after %(duration)s without activity. "
                "Sign in again to continue."
            )
        return text % {"duration": duration}
    return gettext("This session was ended. Sign in again to continue.")


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
