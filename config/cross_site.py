"""Cross-site requests: resources kept to this site, and the Fetch Metadata check.

`Cross-Origin-Resource-Policy: same-origin` on every answer tells browsers not to hand any of
it to another site's page (a `<script>` or `<img>` pointing here). The Fetch Metadata check
(ASVS 5.0 V3.5.8) refuses, before any view runs, what a browser labels a cross-site request
other than following a link: another site's form posting here, its `fetch()`, `<img>` or
`<script>` aimed at a page here. Following a link (a top-level GET or HEAD navigation to a
document) passes, so emailed links and the identity provider's redirect back to `/sso/callback/`
work. Requests without the headers pass: older browsers, the test client, curl, and every
server-to-server call (OpenID Connect back-channel, webhooks, health checks, SCIM), which
send none; those are what CSRF tokens and the views' own checks are for.

Also names the endpoint the Content-Security-Policy's `report-to` reports go to
(`Reporting-Endpoints`). A few dictionary lookups per request.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

NAVIGATION_METHODS = frozenset({"GET", "HEAD"})


def cross_site_refused(request: HttpRequest) -> bool:
    """Whether a browser says the request comes from another site and isn't a navigation to
    a page here."""
    if request.META.get("HTTP_SEC_FETCH_SITE") != "cross-site":
        return False
    return not (
        request.method in NAVIGATION_METHODS
        and request.META.get("HTTP_SEC_FETCH_MODE") == "navigate"
        and request.META.get("HTTP_SEC_FETCH_DEST") == "document"
    )


class CrossSiteMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.reporting_endpoints = f'{settings.CSP_REPORT_ENDPOINT}="{settings.CSP_REPORT_URL}"'

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if cross_site_refused(request):
            response = HttpResponseForbidden(
                "Cross-site request refused.", content_type="text/plain; charset=utf-8"
            )
        else:
            response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.headers.setdefault("Reporting-Endpoints", self.reporting_endpoints)
        return response
