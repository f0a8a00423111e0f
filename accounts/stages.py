"""The steps of a sign-in after the password, and the pending sign-in that waits for them.

Nobody is signed in until every step is done. The password step records a *pending* sign-in in
the still anonymous session: who, which steps are due, which are done, since when. Only when the
last step is done does `accounts.sign_in` call Django's `login()`. Until then the session counts
against no session cap, `last_login` is untouched and nothing is recorded as a sign-in.

Each step is a `SignInStep` that the app owning it registers from its `AppConfig.ready()`: mfa
registers the second factor and enrolment, accounts the required new password. accounts never
imports the apps above it (django-allauth's `LoginStage`s work the same way).

Two more hooks live here for the same reason: single sign-on (sso) registers who may not sign
in with a password (`password_refusal_register`) and where an email's domain signs in instead
(`home_realm_register`), for the sign-in page and the reset mails, which accounts owns.

This module loads no models, so an app can import it before the app registry is ready.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest

PENDING_SESSION_KEY = "accounts_pending_sign_in"
# Set in a session whose sign-in's second factor was the identity provider's own (single
# sign-on, when the tenant accepts it): there is no device of ours to have verified it.
SECOND_FACTOR_BY_PROVIDER_SESSION_KEY = "accounts_second_factor_by_provider"


def second_factor_by_provider(request: HttpRequest) -> bool:
    return request.session.get(SECOND_FACTOR_BY_PROVIDER_SESSION_KEY) is True


@dataclass(frozen=True)
class StepPassedBefore:
    """A due step that this request has already passed without its page (a remembered browser
    stands in for the second factor): what the completed sign-in records of it."""

    second_factor: str
    otp_device: str | None = None


@dataclass(frozen=True)
class SignInStep:
    """One step after the password.

    `is_due(user)` says whether this person must pass it; `url_name` is its page, and
    `also_allowed` names the other pages its person may open meanwhile (a password proof, say).
    Steps run in `order`. `passed_before(request=, user=)`, when a step has one, is asked once
    the step is due, right after the password: a `StepPassedBefore` skips the step's page.
    `second_factor` marks a step that an identity provider's own multi-factor sign-in may stand
    in for, when the tenant's single sign-on policy accepts it.
    """

    key: str
    order: int
    url_name: str
    is_due: Callable[..., bool]
    also_allowed: frozenset[str] = field(default_factory=frozenset)
    passed_before: Callable[..., StepPassedBefore | None] | None = None
    second_factor: bool = False


_steps: dict[str, SignInStep] = {}


def sign_in_step_register(step: SignInStep) -> None:
    _steps[step.key] = step


def sign_in_step(key: str) -> SignInStep:
    return _steps[key]


def sign_in_steps_due(*, user, second_factor_done: bool = False) -> list[str]:
    """The keys of the steps this person must pass, in order. With `second_factor_done` (an
    identity provider's multi-factor sign-in the tenant accepts) the second-factor steps are
    not due."""
    return [
        step.key
        for step in sorted(_steps.values(), key=lambda step: step.order)
        if not (second_factor_done and step.second_factor) and step.is_due(user)
    ]


def sign_in_steps_passed_before(
    *, request: HttpRequest, user, due: list[str]
) -> tuple[list[str], StepPassedBefore | None]:
    """Of the due steps, drop those this request has already passed. Returns the steps still
    due and what passed the last one dropped, if any."""
    still_due: list[str] = []
    passed: StepPassedBefore | None = None
    for key in due:
        step = sign_in_step(key)
        outcome = step.passed_before(request=request, user=user) if step.passed_before else None
        if outcome is None:
            still_due.append(key)
        else:
            passed = outcome
    return still_due, passed


# Whatever refuses a person's password sign-in outright (single sign-on required for their
# tenant), registered by the app that knows: a callable taking the person and returning the
# name of the way they must sign in instead, or None.
_password_refusals: list[Callable[..., str | None]] = []


def password_refusal_register(refusal: Callable[..., str | None]) -> None:
    if refusal not in _password_refusals:
        _password_refusals.append(refusal)


def password_sign_in_refusal(*, user) -> str | None:
    """The way this person must sign in instead of with a password, or None when a password
    is fine for them."""
    for refusal in _password_refusals:
        instead = refusal(user)
        if instead:
            return instead
    return None


@dataclass(frozen=True)
class HomeRealm:
    """Where an email's domain signs in instead of (or beside) a password: the provider's name
    and whether its tenant requires it."""

    label: str
    required: bool


_home_realms: list[Callable[[str], HomeRealm | None]] = []


def home_realm_register(finder: Callable[[str], HomeRealm | None]) -> None:
    if finder not in _home_realms:
        _home_realms.append(finder)


def home_realm_for(*, email: str) -> HomeRealm | None:
    """The single sign-on an email's domain leads to, if any (home-realm discovery)."""
    for finder in _home_realms:
        realm = finder(email)
        if realm is not None:
            return realm
    return None


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in whose password was right and whose other steps are not all done yet.

    `password_hash` is the person's session auth hash (what Django binds a session to) when the
    sign-in started: a password changed or reset meanwhile, or made unusable by "this wasn't
    me", ends the pending sign-in like it ends a session.
    """

    user_id: int
    backend: str
    started_at: float
    due: tuple[str, ...]
    second_factor: str | None = None
    otp_device: str | None = None
    via: dict | None = None
    password_hash: str = ""

    @property
    def current_step(self) -> SignInStep:
        return sign_in_step(self.due[0])

    def expired(self, now: float | None = None) -> bool:
        age = (now or time.time()) - self.started_at
        return not 0 <= age <= settings.PENDING_SIGN_IN_MINUTES * 60


def pending_sign_in(request: HttpRequest) -> PendingSignIn | None:
    """The live pending sign-in of this session, if any. One that timed out is dropped."""
    stored = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(stored, dict):
        return None
    try:
        pending = PendingSignIn(
            user_id=int(stored["user_id"]),
            backend=str(stored["backend"]),
            started_at=float(stored["started_at"]),
            due=tuple(key for key in stored["due"] if key in _steps),
            second_factor=stored.get("second_factor"),
            otp_device=stored.get("otp_device"),
            via=stored.get("via") if isinstance(stored.get("via"), dict) else None,
            password_hash=str(stored.get("password_hash", "")),
        )
    except (KeyError, TypeError, ValueError):
        pending = None
    if pending is None or not pending.due or pending.expired():
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    return pending


def pending_sign_in_save(request: HttpRequest, pending: PendingSignIn) -> None:
    request.session[PENDING_SESSION_KEY] = {
        "user_id": pending.user_id,
        "backend": pending.backend,
        "started_at": pending.started_at,
        "due": list(pending.due),
        "second_factor": pending.second_factor,
        "otp_device": pending.otp_device,
        "via": pending.via,
        "password_hash": pending.password_hash,
    }


def pending_sign_in_forget(request: HttpRequest) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)
