"""The 500 handler, which answers 503 when the database is out of reach.

A dropped or refused database connection is an outage, not a bug: the page says so and asks the
browser to come back, and a load balancer sees a status it can retry. Django calls this handler
inside its own `except` block, so the exception being handled is still at hand.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader

RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponse(loader.render_to_string("500.html"), status=500)
