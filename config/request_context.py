"""Each request's id, tenant and person, for every log line written while it is answered.

The id comes from the `X-Request-ID` header only when the request came through the trusted
proxies (`TRUSTED_PROXY_COUNT`, and an X-Forwarded-For chain that deep, as `audit.client`
reads the client IP), since only they can be relied on to set it: the proxy must set or
overwrite the header. Otherwise, or when the value isn't a short plain token, the id is made
here. It is answered in the `X-Request-ID` response header, so a report of "this page failed"
leads to its log lines.
"""

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from config.log_format import request_context

HEADER = "X-Request-ID"
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_for(request: HttpRequest) -> str:
    """The proxy's id for this request when it can be trusted, else a new one."""
    proxies = settings.TRUSTED_PROXY_COUNT
    offered = request.META.get("HTTP_X_REQUEST_ID", "")
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
    if proxies > 0 and len(forwarded) >= proxies and ACCEPTED_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """First in the stack: names the request, and once the person is known, who they are."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_for(request)
        request_context.set({"request_id": request.request_id})
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        """Every other middleware has run by now, so the person (and their tenant) is known."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request_context.set(
                {
                    "request_id": request.request_id,
                    "tenant_id": user.tenant_id,
                    "user_id": user.pk,
                }
            )


@receiver(request_finished, dispatch_uid="config.request_context.forget")
def request_context_forget(**kwargs) -> None:
    """Django logs a 4xx or 5xx after the middleware returns, so the context lasts until the
    response is finished; then the thread's next log lines belong to nobody's request."""
    request_context.set(None)
