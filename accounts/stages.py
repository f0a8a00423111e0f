"""The registry of a sign-in attempt's gates, its one policy decision and its steps.

Every attempt (accounts/attempt.py), whichever door it came in by, runs the same path in
`accounts.sign_in.sign_in_run`: the gates, once, in `order`; then ONE policy decision, which
says which second factors the person must prove or enrol and which kinds of proof count; then
the steps that decision makes due, each on its own page; then `login()`. The decision is taken
again at every request of a waiting attempt, so a step the person's factors or policy no longer
call for is refused there.

The apps above accounts register their parts from their `AppConfig.ready()`: mfa the factor
policy and the second-factor steps, sso its door rule, accounts itself the gates and the new
password step. accounts never imports those apps (django-allauth's `LoginStage`s work the same
way). Two more hooks live here for the same reason: who may not sign in with a password
(`password_refusal_register`, also asked by the reset mails) and where an email's domain signs
in instead (`home_realm_register`), for pages that accounts owns.

This module loads no models, so an app can import it before the app registry is ready.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest

from accounts.attempt import SignInAttempt

# Set in a session whose sign-in's second factor was the identity provider's own (single
# sign-on, when the tenant accepts it): there is no device of ours to have verified it.
SECOND_FACTOR_BY_PROVIDER_SESSION_KEY = "accounts_second_factor_by_provider"


def second_factor_by_provider(request: HttpRequest) -> bool:
    return request.session.get(SECOND_FACTOR_BY_PROVIDER_SESSION_KEY) is True


@dataclass(frozen=True)
class SignInGate:
    """A check every attempt passes once, after its door's first factor and before any step.
    `check(request=, attempt=, user=)` returns the attempt (updated) or raises a refusal."""

    key: str
    order: int
    check: Callable[..., SignInAttempt]


_gates: dict[str, SignInGate] = {}


def sign_in_gate_register(gate: SignInGate) -> None:
    _gates[gate.key] = gate


def sign_in_gates() -> list[SignInGate]:
    return sorted(_gates.values(), key=lambda gate: gate.order)


@dataclass(frozen=True)
class DoorRefusal:
    """Why a door is shut for a person (`reason`), and the way they must use instead."""

    reason: str
    instead: str = ""


# (order, rule): a rule takes the attempt and its person and returns a `DoorRefusal` or None.
_door_rules: list[tuple[int, Callable[..., DoorRefusal | None]]] = []


def door_rule_register(rule: Callable[..., DoorRefusal | None], *, order: int) -> None:
    if all(registered is not rule for _, registered in _door_rules):
        _door_rules.append((order, rule))
        _door_rules.sort(key=lambda entry: entry[0])


def door_refusal(*, attempt: SignInAttempt, user) -> DoorRefusal | None:
    """The first registered rule that shuts this attempt's door for its person, if any."""
    for _, rule in _door_rules:
        refusal = rule(attempt=attempt, user=user)
        if refusal is not None:
            return refusal
    return None


@dataclass(frozen=True)
class FactorPolicy:
    """The one decision per attempt about second factors: `counts` names the kinds of proof
    that pass the second step, `has_factor` whether the person has a confirmed factor to prove
    it with, and `enrol` the kind they must enrol first when they lack it (or None)."""

    counts: frozenset[str] = frozenset()
    has_factor: bool = False
    enrol: str | None = None

    def second_step_passed(self, attempt: SignInAttempt) -> bool:
        return bool(self.counts.intersection(attempt.proved))


_policy: list[Callable[..., FactorPolicy]] = []


def factor_policy_register(decide: Callable[..., FactorPolicy]) -> None:
    _policy[:] = [decide]


def factor_policy(*, user) -> FactorPolicy:
    """The policy for this person now; with no app deciding one, no second factor."""
    return _policy[0](user=user) if _policy else FactorPolicy()


@dataclass(frozen=True)
class Proof:
    """A proof a step found already made for this attempt without its page (a remembered
    browser stands in for the second step): its kind, and the device that stands for it."""

    kind: str
    device: object = None


@dataclass(frozen=True)
class SignInStep:
    """One step after the gates.

    `is_due(user=, attempt=, policy=)` says whether the attempt must pass it; `url_name` is its
    page, and `also_allowed` names the other pages its person may open meanwhile. Steps run in
    `order`. `proof_found(request=, user=, policy=)`, when a step has one, is asked once, when
    the step is first due, right after the gates: a `Proof` it returns is added to the attempt
    and the steps are derived again, so it only passes the step when the policy counts it.
    `enrols` marks a step that adds a factor: the policy is decided again once it is passed.
    """

    key: str
    order: int
    url_name: str
    is_due: Callable[..., bool]
    also_allowed: frozenset[str] = field(default_factory=frozenset)
    proof_found: Callable[..., Proof | None] | None = None
    enrols: bool = False


_steps: dict[str, SignInStep] = {}


def sign_in_step_register(step: SignInStep) -> None:
    _steps[step.key] = step


def sign_in_step(key: str) -> SignInStep | None:
    return _steps.get(key)


def sign_in_steps() -> list[SignInStep]:
    return sorted(_steps.values(), key=lambda step: step.order)


def steps_due(*, user, attempt: SignInAttempt, policy: FactorPolicy) -> tuple[str, ...]:
    """The keys of the steps this attempt must still pass, in order, under `policy`."""
    return tuple(
        step.key
        for step in sign_in_steps()
        if step.is_due(user=user, attempt=attempt, policy=policy)
    )


# The reason of the door rule that single sign-on registers, which pages that name refusals know.
SINGLE_SIGN_ON_REQUIRED = "single_sign_on_required"

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
