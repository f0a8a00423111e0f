"""Content Security Policy violation reports: browsers post them here; each is a log line.

Both formats: `report-uri`'s `application/csp-report` (`{"csp-report": {...}}`, kebab-case
keys) and the Reporting API's `application/reports+json` (a list of `{"type":
"csp-violation", "body": {...}}`, camelCase keys), sent where `Reporting-Endpoints` names
(config/cross_site.py). Anyone can post here, so the endpoint is careful with what it is sent:
no CSRF token (browsers send none), a body of at most `CSP_REPORT_MAX_BYTES`, at most
`CSP_REPORTS_PER_BODY` reports read from one body, at most `CSP_REPORTS_PER_MINUTE` lines a
minute per process (one more line says the rest of that minute's are dropped; no cache or
database is asked), and each value logged cut short, with no query string and never the
script sample. Junk is a 400, never a 500.
"""

import json
import logging
import threading
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

REPORT_CONTENT_TYPES = frozenset({"application/csp-report", "application/reports+json"})
CSP_REPORTS_PER_BODY = 20
MAX_VALUE_LENGTH = 200
# What is logged of a report: (the Reporting API's key, report-uri's key, the name logged).
REPORT_FIELDS = (
    ("documentURL", "document-uri", "page"),
    ("blockedURL", "blocked-uri", "blocked"),
    ("effectiveDirective", "effective-directive", "directive"),
    ("disposition", "disposition", "disposition"),
    ("sourceFile", "source-file", "source"),
    ("lineNumber", "line-number", "line"),
    ("columnNumber", "column-number", "column"),
)
URL_FIELDS = frozenset({"page", "blocked", "source"})


class _MinuteBudget:
    """How many report lines this process may still write in the current minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minute = -1
        self._asked = 0

    def take(self) -> bool:
        minute = int(time.time() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._asked = minute, 0
            self._asked += 1
            asked = self._asked
        if asked == settings.CSP_REPORTS_PER_MINUTE + 1:
            logger.warning(
                "CSP violation reports: over %s this minute; the rest are dropped",
                settings.CSP_REPORTS_PER_MINUTE,
            )
        return asked <= settings.CSP_REPORTS_PER_MINUTE


budget = _MinuteBudget()


def _value(report: dict, reporting_key: str, uri_key: str, name: str) -> str:
    value = report.get(reporting_key, report.get(uri_key, ""))
    if not isinstance(value, str | int) or isinstance(value, bool):
        return ""
    text = str(value)
    if name in URL_FIELDS:
        text = text.split("?", 1)[0].split("#", 1)[0]
    return text[:MAX_VALUE_LENGTH]


def _reports(content_type: str, document: object) -> list[dict]:
    """The violation reports in a body, as dictionaries; ValueError when it holds none."""
    if content_type == "application/csp-report":
        report = document.get("csp-report") if isinstance(document, dict) else None
        reports = [report]
    else:
        items = document if isinstance(document, list) else []
        reports = [
            item.get("body")
            for item in items[:CSP_REPORTS_PER_BODY]
            if isinstance(item, dict) and item.get("type") == "csp-violation"
        ]
    reports = [report for report in reports if isinstance(report, dict)]
    if not reports:
        raise ValueError("no violation report")
    return reports


@csrf_exempt
def csp_report(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if request.content_type not in REPORT_CONTENT_TYPES:
        return HttpResponse(status=415)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse(status=400)
    if declared > settings.CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    body = request.read(settings.CSP_REPORT_MAX_BYTES + 1)
    if len(body) > settings.CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        reports = _reports(request.content_type, json.loads(body))
    except (ValueError, RecursionError):
        return HttpResponse(status=400)
    for report in reports:
        if not budget.take():
            break
        fields = {name: _value(report, *keys, name) for *keys, name in REPORT_FIELDS}
        logger.warning(
            "CSP violation: %s blocked %s on %s (%s at %s:%s:%s)",
            fields["directive"] or "?",
            fields["blocked"] or "?",
            fields["page"] or "?",
            fields["disposition"] or "?",
            fields["source"] or "-",
            fields["line"] or "-",
            fields["column"] or "-",
        )
    return HttpResponse(status=204)
