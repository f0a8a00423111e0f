"""The steps of a sign-in after the password, and the pending sign-in that waits for them.

Nobody is signed in until every step is done. The password step records a *pending* sign-in in
the still anonymous session: who, which steps are due, which are done, since when. Only when the
last step is done does `accounts.sign_in` call Django's `login()`. Until then the session counts
against no session cap, `last_login` is untouched and nothing is recorded as a sign-in.

Each step is a `SignInStep` that the app owning it registers from its `AppConfig.ready()`: mfa
registers the second factor and enrolment, accounts the required new password. accounts never
imports the apps above it (django-allauth's `LoginStage`s work the same way).

This module loads no models, so an app can import it before the app registry is ready.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest

PENDING_SESSION_KEY = "accounts_pending_sign_in"


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
    """

    key: str
    order: int
    url_name: str
    is_due: Callable[..., bool]
    also_allowed: frozenset[str] = field(default_factory=frozenset)
    passed_before: Callable[..., StepPassedBefore | None] | None = None


_steps: dict[str, SignInStep] = {}


def sign_in_step_register(step: SignInStep) -> None:
    _steps[step.key] = step


def sign_in_step(key: str) -> SignInStep:
    return _steps[key]


def sign_in_steps_due(*, user) -> list[str]:
    """The keys of the steps this person must pass, in order."""
    return [
        step.key
        for step in sorted(_steps.values(), key=lambda step: step.order)
        if step.is_due(user)
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


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in whose password was right and whose other steps are not all done yet."""

    user_id: int
    backend: str
    started_at: float
    due: tuple[str, ...]
    second_factor: str | None = None
    otp_device: str | None = None

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
    }


def pending_sign_in_forget(request: HttpRequest) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)
