import re
from datetime import datetime

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from audit import sign_in_methods

register = template.Library()

ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@register.filter
def has_scope(user, scope: str) -> bool:
    """`{% if user|has_scope:"audit:read" %}`: Django's `perms` can't look up scope names."""
    return bool(user and user.has_perm(scope))


# Readable names for the keys services put in an event's details; any other key is shown
# with its underscores as spaces.
DETAIL_LABELS = {
    "reason": _("Reason"),
    "ip": _("IP address"),
    "sessions": _("Sessions"),
    "role": _("Role"),
    "request": _("Request"),
    "email": _("Email"),
    "changed": _("Changed"),
    "outcome": _("Outcome"),
    "other_sessions_ended": _("Other sessions ended"),
    "action": _("Action"),
    "step": _("Step"),
    "method": _("Method"),
    "second_factor": _("Second factor"),
    "network": _("Network"),
    "minutes": _("Minutes"),
    "failures": _("Failures"),
    "factor": _("Factor"),
    "device": _("Device"),
    "codes_left": _("Backup codes left"),
    "backup_codes_issued": _("Backup codes issued"),
    "backup_codes_removed": _("Backup codes removed"),
    "replaced": _("Replaced an earlier one"),
    "lock_lifted": _("Lock lifted"),
    "deactivate_on": _("Deactivation date"),
    "at_sign_in": _("At sign-in"),
    "at": _("At"),
    "by": _("By"),
}


def _detail_value(value):
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str) and ISO_DATETIME.match(value):
        when = parse_datetime(value)
        if when is not None:
            return when
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value


@register.filter
def detail_items(details) -> list[tuple[str, object]]:
    """An event's details as (readable label, value) pairs; a time comes back as a datetime,
    for the one date-time format (templates/time.html)."""
    return [
        (DETAIL_LABELS.get(key, str(key).replace("_", " ").capitalize()), _detail_value(value))
        for key, value in (details or {}).items()
    ]


@register.filter
def is_datetime(value) -> bool:
    return isinstance(value, datetime)


@register.filter
def sign_in_method(event) -> str:
    """`{{ event|sign_in_method }}`: how a sign-in event's person signed in, or tried to."""
    return sign_in_methods.sign_in_method_label(event)


@register.filter
def sign_in_outcome(event) -> str | None:
    """`{{ event|sign_in_outcome }}`: "succeeded", "failed", "refused", or None for an event
    that is no sign-in (templates/audit/_event.html colours the first three)."""
    return sign_in_methods.sign_in_outcome(event)


@register.filter
def email_wrap(email: str) -> SafeString:
    """An email that may wrap before its "@" and nowhere else unless it must: a narrow column
    then shows "someone" and "@northwind.example" on two lines, not "someone@northw" and
    "ind.example" (with CSS `overflow-wrap: break-word`, which splits only what still can't fit).
    """
    local, at, domain = str(email).rpartition("@")
    if not at:
        return format_html("{}", email)
    return format_html("{}<wbr>@{}", local, domain)
