"""Refused requests in the audit log: one event per person (or client IP) and path a minute,
and a few a minute per person (or client IP) across every path.

Each kind of refusal is recorded where it is decided: a 403 (`config.errors`), another tenant's
object answered as a 404 (`teams.access`, the tenant-scoped admin), another person's session,
passkey or remembered browser answered as a 404 (`teams.access.other_person_refusal_record`),
an admin action a service refused, a filter on a secret field (`teams.sites`), a failed CSRF
check (`CSRF_FAILURE_VIEW`), and a request dropped by the reset or recovery rate limits (their
services).

A scanner makes thousands of refused requests a minute; the trail keeps the first of each
(kind, who, path) in each UTC minute and drops the rest, so it can't be flooded and still shows
that, when, and where it happened. "Who" is the signed-in person, or the client IP for anonymous
requests (its /64 for IPv6). One person walking through ids makes a new path with each request,
so each "who" is also held to `PER_SOURCE_PER_MINUTE` refusal events a minute across every kind
and path; the refusals past that are counted, not recorded, and one "Refused requests
suppressed" event a minute says how many were (the first one past the cap writes it, with the
count since the previous one; what is suppressed after it in the same minute is counted in the
next). Anonymous refusals of one kind from all addresses together are recorded at most
`ANONYMOUS_PER_MINUTE` times a minute, so a botnet can't flood it either.

The counting uses atomic `cache.add` and `cache.incr` on the shared cache: with `REDIS_URL`
set, every web node and worker uses the same Redis, so two nodes hit by one scanner still record
one event a minute between them. Without Redis the cache is per process, so each process keeps
the limits on its own. If the cache can't be reached, a per-process memory stands in for it
until it answers again: refusals stay collapsed and capped, per process, rather than flooding
the trail, and the refused request is answered as usual.
"""

import contextlib
import hashlib
import ipaddress
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from django.utils import timezone

from audit.client import client_ip
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.redaction import redact_secrets
from audit.services import audit_event_record

PATH_MAX_LENGTH = 200
WINDOW_SECONDS = 60
# Anonymous refusals of one kind, from every address together, recorded in one minute at most.
ANONYMOUS_PER_MINUTE = 100
# Refusal events one person (or client IP) makes in one minute, across every kind and path.
PER_SOURCE_PER_MINUTE = 5
# How long a count of suppressed refusals waits for the next summary event.
SUPPRESSED_KEPT_SECONDS = 24 * 3600
CACHE_PREFIX = "audit-refusal"
# Stands in for the shared cache while it is unreachable (see the module's docstring).
FALLBACK_CACHE = LocMemCache("audit-refusals", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def refusal_path(request: HttpRequest) -> str:
    """The refused path as the trail shows it: secrets redacted, cut to length."""
    return redact_secrets(request.path)[:PATH_MAX_LENGTH]


def _anonymous_source(request: HttpRequest) -> str:
    """Who an anonymous request is: its client IP, or its /64 for IPv6, where one subscriber
    holds a whole /64 and could otherwise take a new address for every request."""
    ip = client_ip(request)
    if ip is None:
        return "ip:-"
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return f"net:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{address}"


def _cache_call(method: str, *args, **kwargs):
    """The shared cache, or the per-process stand-in while it doesn't answer (silently: the
    cache backend logs the outage once, config/cache.py)."""
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        return getattr(FALLBACK_CACHE, method)(*args, **kwargs)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _first_in_window(*, event: AuditEventType, who: str, path: str, minute: int) -> bool:
    where = _digest(f"{who}\n{path}")
    key = f"{CACHE_PREFIX}:{int(event)}:{where}:{minute}"
    return bool(_cache_call("add", key, 1, timeout=WINDOW_SECONDS * 2))


def _count(key: str, *, timeout: int) -> int:
    """Add one to the counter at `key` (made at 0 when missing) and return the new count."""
    _cache_call("add", key, 0, timeout=timeout)
    try:
        return _cache_call("incr", key)
    except ValueError:  # expired between the two calls: this is the first again
        _cache_call("set", key, 1, timeout=timeout)
        return 1


def _under_anonymous_cap(*, event: AuditEventType, minute: int) -> bool:
    """Many addresses together (a botnet) still record at most ANONYMOUS_PER_MINUTE a minute."""
    key = f"{CACHE_PREFIX}:anonymous:{int(event)}:{minute}"
    return _count(key, timeout=WINDOW_SECONDS * 2) <= ANONYMOUS_PER_MINUTE


def _source_key(who: str, minute: int) -> str:
    return f"{CACHE_PREFIX}:source:{_digest(who)}:{minute}"


def _source_cap_reached(*, who: str, minute: int) -> bool:
    return (_cache_call("get", _source_key(who, minute)) or 0) >= PER_SOURCE_PER_MINUTE


def _under_source_cap(*, who: str, minute: int) -> bool:
    """One person or address records at most PER_SOURCE_PER_MINUTE refusals a minute."""
    return _count(_source_key(who, minute), timeout=WINDOW_SECONDS * 2) <= PER_SOURCE_PER_MINUTE


def _suppressed_key(who: str) -> str:
    return f"{CACHE_PREFIX}:suppressed:{_digest(who)}"


def _suppressed_summary_record(
    *, who: str, minute: int, user, request: HttpRequest
) -> AuditEvent | None:
    """The minute's one "Refused requests suppressed" event for `who`, when refusals were
    suppressed since the last one; None when there were none or the minute has had its
    summary. The count taken is subtracted rather than reset, so refusals counted meanwhile
    wait for the next summary."""
    suppressed = _cache_call("get", _suppressed_key(who)) or 0
    if not suppressed:
        return None
    if not _cache_call("add", f"{CACHE_PREFIX}:summary:{_digest(who)}:{minute}", 1, timeout=120):
        return None
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing is left to carry over
        _cache_call("decr", _suppressed_key(who), suppressed)
    signed_in = user is not None and user.is_authenticated
    return audit_event_record(
        event=AuditEventType.REFUSALS_SUPPRESSED,
        actor=user if signed_in else None,
        tenant=user.tenant if signed_in else None,
        request=request,
        details={"suppressed": suppressed, "per_minute": PER_SOURCE_PER_MINUTE},
    )


def access_refusal_record(
    *,
    event: AuditEventType,
    request: HttpRequest,
    details: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Record a refused request, unless the same person (or IP) was refused on the same path
    for the same reason already this minute, or has had their refusals for this minute.
    Returns the event, or None when collapsed or suppressed.

    The event is the refused person's tenant's (the platform's for anonymous requests and
    operators), with the method and the path (secrets redacted) in its details.
    """
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    path = refusal_path(request)
    who = f"user:{user.pk}" if signed_in else _anonymous_source(request)
    minute = int(timezone.now().timestamp() // WINDOW_SECONDS)
    # Once the cap is reached, a refusal leaves nothing per path behind: a flood of new paths
    # must not crowd the counters out of a cache that drops entries when full.
    if _source_cap_reached(who=who, minute=minute):
        _count(_suppressed_key(who), timeout=SUPPRESSED_KEPT_SECONDS)
        _suppressed_summary_record(who=who, minute=minute, user=user, request=request)
        return None
    if not _first_in_window(event=event, who=who, path=path, minute=minute):
        return None
    if not _under_source_cap(who=who, minute=minute):
        _count(_suppressed_key(who), timeout=SUPPRESSED_KEPT_SECONDS)
        _suppressed_summary_record(who=who, minute=minute, user=user, request=request)
        return None
    if not signed_in and not _under_anonymous_cap(event=event, minute=minute):
        return None
    _suppressed_summary_record(who=who, minute=minute, user=user, request=request)
    return audit_event_record(
        event=event,
        actor=user if signed_in else None,
        tenant=user.tenant if signed_in else None,
        request=request,
        details={"method": request.method, "path": path, **(details or {})},
    )
