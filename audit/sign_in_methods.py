"""How a sign-in event says, in words, the way someone signed in.

`accounts.sign_in` records each completed sign-in (`SIGN_IN_SUCCEEDED`) with the door it came
in by (`door`: password, provider, passkey), the kind that passed the second step
(`second_factor`) and, through a provider, which one (`via`). Those values are stored in the
log forever, so they are read here by their stored spelling: audit sits below accounts and can't
import its constants (tests/audit/test_sign_in_methods.py checks that every kind accounts names
has words here). Events recorded before `door` was added read the same, except that a passkey
then can't tell "passkey alone" from "password and passkey": it reads as "Passkey".

The failed and refused sign-in events name the step that failed. Any other event has no method
and reads as "".
"""

from django.utils.translation import gettext as _

from audit.events import AuditEventType
from audit.models import AuditEvent

# Stored values (accounts/attempt.py): the doors and the second factor's kinds as recorded.
PASSWORD_DOOR = "password"  # noqa: S105 - a door's name, no secret
PROVIDER_DOOR = "provider"
PASSKEY_DOOR = "passkey"
SECOND_FACTORS = (
    "passkey",
    "totp",
    "backup_code",
    "remembered_browser",
    "identity_provider",
    "none",
)

# Sign-in events and whether they mean the person got in, failed a check, or was refused
# although the check passed (a door shut by policy). History and trail colour them by this.
SUCCEEDED = "succeeded"
FAILED = "failed"
REFUSED = "refused"
SIGN_IN_OUTCOMES = {
    AuditEventType.SIGN_IN_SUCCEEDED: SUCCEEDED,
    AuditEventType.SIGN_IN_FAILED: FAILED,
    AuditEventType.MFA_FAILED: FAILED,
    AuditEventType.SSO_SIGN_IN_FAILED: FAILED,
    AuditEventType.ACCOUNT_LOCKED: FAILED,
    AuditEventType.FAILURE_BURST: FAILED,
    AuditEventType.PASSKEY_SIGN_IN_FAILED: REFUSED,
    AuditEventType.SSO_PASSWORD_REFUSED: REFUSED,
    AuditEventType.SIGN_IN_REFUSED_BY_ACCESS_LIST: REFUSED,
}


def sign_in_outcome(event: AuditEvent) -> str | None:
    """ "succeeded", "failed" or "refused" for a sign-in event; None for any other event."""
    return SIGN_IN_OUTCOMES.get(event.event)


def _provider(details: dict) -> str:
    via = details.get("via")
    if isinstance(via, dict) and via.get("provider"):
        return str(via["provider"])
    return str(details.get("provider") or "")


def _second_factor_words(second_factor: str) -> str:
    return {
        "passkey": _("passkey"),
        "totp": _("authenticator app"),
        "backup_code": _("backup code"),
    }.get(second_factor, "")


def _succeeded_label(details: dict) -> str:
    door = details.get("door")
    second_factor = str(details.get("second_factor") or "none")
    provider = _provider(details)
    if door == PASSKEY_DOOR:
        return _("Passkey")
    if provider or door == PROVIDER_DOOR:
        provider = provider or _("single sign-on")
        factor = _second_factor_words(second_factor)
        if factor:
            return _("Via %(provider)s + %(factor)s") % {"provider": provider, "factor": factor}
        if second_factor == "remembered_browser":
            return _("Via %(provider)s on a remembered browser") % {"provider": provider}
        return _("Via %(provider)s") % {"provider": provider}
    if door is None and second_factor == "passkey":
        return _("Passkey")
    if second_factor == "remembered_browser":
        return _("Password on a remembered browser")
    factor = _second_factor_words(second_factor)
    if factor:
        return _("Password + %(factor)s") % {"factor": factor}
    return _("Password only")


def sign_in_method_label(event: AuditEvent) -> str:
    """The way a sign-in event's person signed in, or tried to, in words ("Password +
    authenticator app", "Passkey", "Via Microsoft"); "" for an event that is no sign-in."""
    details = event.details if isinstance(event.details, dict) else {}
    kind = event.event
    if kind == AuditEventType.SIGN_IN_SUCCEEDED:
        return _succeeded_label(details)
    if kind in (AuditEventType.SIGN_IN_FAILED, AuditEventType.SSO_PASSWORD_REFUSED):
        return _("Password")
    if kind == AuditEventType.MFA_FAILED:
        return _("Second step")
    if kind == AuditEventType.PASSKEY_SIGN_IN_FAILED:
        return _("Passkey")
    if kind == AuditEventType.SSO_SIGN_IN_FAILED:
        provider = _provider(details)
        return _("Via %(provider)s") % {"provider": provider} if provider else _("Single sign-on")
    return ""
