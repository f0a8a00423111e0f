"""One sign-in attempt, carried from the door it came in by to `login()`.

Every way into a session is a door: the password form, an identity provider's callback
(single sign-on), a passkey alone. Each door is a small adapter that proves its first factor,
builds a `SignInAttempt` and hands it to `accounts.sign_in.sign_in_run`; from there every
attempt passes the same gates and the same steps (accounts/stages.py). Like django-allauth's
`Login`, the attempt holds what the sign-in knows so far: who, by which door, what has been
proved (factor kinds, never secrets), since when, and the password it proved, as the person's
session auth hash. While steps are due it waits in the session (`attempt_pending`), and nothing
of it lives anywhere else.

This module loads no models, so an app can import it before the app registry is ready.
"""

import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest

PENDING_SESSION_KEY = "accounts_pending_sign_in"

# The doors.
PASSWORD_DOOR = "password"  # noqa: S105 - a door's name, no secret
PROVIDER_DOOR = "provider"
PASSKEY_DOOR = "passkey"

# What an attempt can prove: kinds of factor.
PASSWORD = "password"  # noqa: S105 - a kind of factor, no secret
TOTP = "totp"
BACKUP_CODE = "backup_code"
PASSKEY = "passkey"
REMEMBERED_BROWSER = "remembered_browser"
PROVIDER = "provider"
PROVIDER_MFA = "provider_mfa"
# The kind a completed sign-in names as its second factor, in order of preference.
SECOND_FACTOR_KINDS = (PASSKEY, TOTP, BACKUP_CODE, REMEMBERED_BROWSER, PROVIDER_MFA)
# How the sign-in event names a second factor that was the identity provider's own.
SECOND_FACTOR_BY_PROVIDER = "identity_provider"

# The attempt's lockout slot (accounts/lockout.py): the door's secret check left it taken, to be
# given back in the transaction that completes the attempt or leaves it pending; the door gave
# it back itself; or the door checked no secret of ours and the lockout gate takes one.
SLOT_HELD = "held"
SLOT_RETURNED = "returned"
SLOT_TO_TAKE = "to_take"


@dataclass
class SignInAttempt:
    """A sign-in from its first factor to `login()`.

    `proved` holds the factor kinds proved so far; `second_factor` is the kind the completed
    sign-in records as its second factor (the one that passed the last second-factor step),
    `otp_device` the device that verified it. `due` is where a pending attempt waits, as the
    policy last derived it (accounts/sign_in.py derives it again at every request). `person`,
    `device` and `policy` are the person, the verifying device and the factor policy as read
    in this request, never stored.
    """

    user_id: int
    door: str
    backend: str
    began_at: float = field(default_factory=time.time)
    proved: tuple[str, ...] = ()
    slot: str = SLOT_RETURNED
    via: dict | None = None
    password_hash: str = ""
    second_factor: str | None = None
    otp_device: str | None = None
    due: tuple[str, ...] = ()
    provider_session: dict | None = None
    person: Any = field(default=None, compare=False, repr=False)
    device: Any = field(default=None, compare=False, repr=False)
    policy: Any = field(default=None, compare=False, repr=False)

    def with_proof(self, kind: str, *, device: Any = None) -> "SignInAttempt":
        """This attempt with one more factor kind proved (by `device`, when a device of ours
        verified it: the completed session is then verified by it)."""
        return replace(
            self,
            proved=(*self.proved, kind) if kind not in self.proved else self.proved,
            second_factor=kind if kind in SECOND_FACTOR_KINDS else self.second_factor,
            otp_device=device.persistent_id if device is not None else self.otp_device,
            device=device if device is not None else self.device,
        )

    def expired(self, now: float | None = None) -> bool:
        age = (now or time.time()) - self.began_at
        return not 0 <= age <= settings.PENDING_SIGN_IN_MINUTES * 60

    @property
    def second_factor_label(self) -> str:
        """How the sign-in event names the second factor."""
        if self.second_factor == PROVIDER_MFA:
            return SECOND_FACTOR_BY_PROVIDER
        return self.second_factor or "none"


_STORED = tuple(item.name for item in fields(SignInAttempt) if item.compare)


def attempt_pending(request: HttpRequest) -> SignInAttempt | None:
    """The attempt waiting in this session, if any. One that timed out, or that reads wrong,
    is dropped."""
    stored = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(stored, dict):
        return None
    try:
        attempt = SignInAttempt(
            user_id=int(stored["user_id"]),
            door=str(stored["door"]),
            backend=str(stored["backend"]),
            began_at=float(stored["began_at"]),
            proved=tuple(str(kind) for kind in stored["proved"]),
            via=stored["via"] if isinstance(stored.get("via"), dict) else None,
            password_hash=str(stored["password_hash"]),
            second_factor=stored.get("second_factor"),
            otp_device=stored.get("otp_device"),
            due=tuple(str(key) for key in stored["due"]),
            provider_session=_provider_session(stored.get("provider_session")),
        )
    except (KeyError, TypeError, ValueError):
        attempt = None
    if attempt is None or not attempt.due or attempt.expired():
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    return attempt


def _provider_session(stored: object) -> dict | None:
    if not isinstance(stored, dict):
        return None
    return {name: str(stored.get(name) or "") for name in ("issuer", "subject", "sid")}


def attempt_keep(request: HttpRequest, attempt: SignInAttempt) -> None:
    """Keep the attempt in the session, waiting at `attempt.due[0]`."""
    stored = asdict(replace(attempt, person=None, device=None, policy=None))
    request.session[PENDING_SESSION_KEY] = {
        name: list(stored[name]) if isinstance(stored[name], tuple) else stored[name]
        for name in _STORED
    }


def attempt_forget(request: HttpRequest) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)
