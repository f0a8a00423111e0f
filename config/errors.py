"""The error handlers: 403 and CSRF failures are audited, and 500 answers 503 in an outage.

A refused request (a 403 from anywhere, a failed CSRF check) is recorded as a refusal
(audit/refusals.py: one event per person or IP and path a minute) and then answered with
Django's own page. If the refusal can't be recorded because the database is out of reach, the
answer is still the refusal, and the failure is logged.

A dropped or refused database connection is an outage, not a bug: the page says so and asks the
browser to come back, and a load balancer sees a status it can retry. Django calls the 500
handler inside its own `except` block, so the exception being handled is still at hand.
"""

import logging
import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import csrf, defaults

from audit.events import AuditEventType
from audit.refusals import access_refusal_record

logger = logging.getLogger(__name__)
REASON_MAX_LENGTH = 200

RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def _refusal_record(request: HttpRequest, event: AuditEventType, reason: str) -> None:
    try:
        access_refusal_record(
            event=event, request=request, details={"reason": reason[:REASON_MAX_LENGTH]}
        )
    except DatabaseError:
        logger.exception("Could not audit a refused request (%s)", reason)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: every PermissionDenied, from a view, a middleware or the admin."""
    _refusal_record(request, AuditEventType.ACCESS_REFUSED, "permission_denied")
    return defaults.permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form posted without a valid CSRF token, or from another origin."""
    _refusal_record(request, AuditEventType.CSRF_REFUSED, reason or "csrf")
    return csrf.csrf_failure(request, reason=reason)
