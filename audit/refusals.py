"""Refused requests in the audit log: one event per person (or client IP) and path a minute.

Each kind of refusal is recorded where it is decided: a 403 (`config.errors`), another tenant's
object answered as a 404 (`teams.access`, the tenant-scoped admin), an admin action a service
refused (`teams.sites`), a failed CSRF check (`CSRF_FAILURE_VIEW`), and a request dropped by
the reset or recovery rate limits (their services).

A scanner makes thousands of refused requests a minute; the trail keeps the first of each
(kind, who, path) in each UTC minute and drops the rest, so it can't be flooded and still shows
that, when, and where it happened. "Who" is the signed-in person, or the client IP for anonymous
requests (its /64 for IPv6), and anonymous refusals of one kind from all addresses together are
recorded at most `ANONYMOUS_PER_MINUTE` times a minute, so a botnet can't flood it either. The
first is chosen with an atomic `cache.add` on the shared cache: with `REDIS_URL`
set, every web node and worker uses the same Redis, so two nodes hit by one scanner still record
one event a minute between them. Without Redis the cache is per process, so each process records
at most one a minute. If the cache can't be reached, a per-process memory stands in for it
until it answers again: refusals stay collapsed, per process, rather than flooding the trail.
"""

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


def _first_in_window(*, event: AuditEventType, who: str, path: str, minute: int) -> bool:
    digest = hashlib.sha256(f"{who}\n{path}".encode()).hexdigest()[:32]
    key = f"{CACHE_PREFIX}:{int(event)}:{digest}:{minute}"
    return bool(_cache_call("add", key, 1, timeout=WINDOW_SECONDS * 2))


def _under_anonymous_cap(*, event: AuditEventType, minute: int) -> bool:
    """Many addresses together (a botnet) still record at most ANONYMOUS_PER_MINUTE a minute."""
    key = f"{CACHE_PREFIX}:anonymous:{int(event)}:{minute}"
    _cache_call("add", key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        return _cache_call("incr", key) <= ANONYMOUS_PER_MINUTE
    except ValueError:  # expired between the two calls: this is the minute's first
        return True


def access_refusal_record(
    *,
    event: AuditEventType,
    request: HttpRequest,
    details: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Record a refused request, unless the same person (or IP) was refused on the same path
    for the same reason already this minute. Returns the event, or None when collapsed.

    The event is the refused person's tenant's (the platform's for anonymous requests and
    operators), with the method and the path (secrets redacted) in its details.
    """
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    path = refusal_path(request)
    who = f"user:{user.pk}" if signed_in else _anonymous_source(request)
    minute = int(timezone.now().timestamp() // WINDOW_SECONDS)
    if not _first_in_window(event=event, who=who, path=path, minute=minute):
        return None
    if not signed_in and not _under_anonymous_cap(event=event, minute=minute):
        return None
    return audit_event_record(
        event=event,
        actor=user if signed_in else None,
        tenant=user.tenant if signed_in else None,
        request=request,
        details={"method": request.method, "path": path, **(details or {})},
    )
