"""Where delivery to a webhook or the syslog receiver stands, in words an owner can act on.

"Failing since 7 Dec 2026, 14:02 UTC — 6 tries — the receiver answered 503", "Delivered 7 Dec
2026, 14:05 UTC", "Never sent": never an exception's text, which says more about the library
than about the receiver (it stays in `AuditDelivery.last_error` and the log, for operators).
"""

from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from audit.models import AuditDelivery

Failure = AuditDelivery.Failure


def failure_reason(kind: str, status: int | None = None) -> str:
    """Why the last try failed, in words."""
    if kind == Failure.ANSWERED and status is not None:
        return gettext("the receiver answered %(status)d") % {"status": status}
    return {
        Failure.CONNECT: gettext("could not connect"),
        Failure.TIMEOUT: gettext("timed out"),
        Failure.TLS: gettext("TLS certificate not valid"),
        Failure.NAME: gettext("host name not found"),
        Failure.ADDRESS: gettext("the address is not allowed (not https, or a private network)"),
    }.get(kind, gettext("the request failed"))


def _when(at) -> str:
    return render_to_string("time.html", {"at": at}).strip()


def delivery_status_html(delivery) -> SafeString:
    """`delivery` (an `AuditDelivery`, or a row annotated with its `attempts`,
    `failing_since`, `failure_kind`, `failure_status` and, optionally, `delivered_at`) in
    words; None reads "Never sent"."""
    attempts = getattr(delivery, "attempts", 0) or 0
    if attempts and not delivery.failing_since:
        # A failure recorded before the site kept when failing began.
        return format_html(
            ngettext(
                "Failing — {tries} try — {reason}", "Failing — {tries} tries — {reason}", attempts
            ),
            tries=attempts,
            reason=failure_reason(delivery.failure_kind, delivery.failure_status),
        )
    if attempts:
        return format_html(
            ngettext(
                "Failing since {since} — {tries} try — {reason}",
                "Failing since {since} — {tries} tries — {reason}",
                attempts,
            ),
            since=SafeString(_when(delivery.failing_since)),
            tries=attempts,
            reason=failure_reason(delivery.failure_kind, delivery.failure_status),
        )
    delivered_at = getattr(delivery, "delivered_at", None)
    if delivered_at is not None:
        return format_html(gettext("Delivered {at}"), at=SafeString(_when(delivered_at)))
    return format_html("{}", gettext("Never sent"))
