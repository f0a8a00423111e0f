"""Who is on the other end of a request: the one place client IP and user agent are read."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX_LENGTH = 512


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP, reading X-Forwarded-For only as deep as TRUSTED_PROXY_COUNT.

    Each trusted proxy appends the address it received the request from, so the client is the
    N-th entry from the right. Anything further left was written by the client and can be
    spoofed; a header shorter than the proxy chain means the request skipped a proxy, and then
    only the socket's address can be believed.
    """
    remote_addr = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
    if len(forwarded) < proxies:
        return remote_addr
    return _valid_ip(forwarded[-proxies]) or remote_addr


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
