"""The sign-in run: one path from any door to `login()`, and sign-out.

A door (the password form, an identity provider's callback, a passkey alone) proves its first
factor, builds a `SignInAttempt` (accounts/attempt.py) and calls `sign_in_run`. The run passes
the attempt through the gates (accounts/gates.py), derives the steps due from the one factor
policy (accounts/stages.py), and either completes the sign-in or keeps the attempt waiting in
the session at its first step. Each step's page reads the attempt back with
`attempt_at_step`, which derives the steps again, and reports its step passed with
`sign_in_step_passed`. Nobody is signed in before `_sign_in_complete`: the session's tracking
row and its place under the session cap, `last_login`, the unusual-sign-in check and the
"signed in" event all happen there, once.
"""

from collections.abc import Callable
from dataclasses import replace
from weakref import WeakKeyDictionary

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    logout,
)
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django_otp import login as otp_login
from django_otp.models import Device

from accounts import lockout
from accounts.alerts import sign_in_unusual_check
from accounts.attempt import (
    PROVIDER_MFA,
    SignInAttempt,
    attempt_forget,
    attempt_keep,
    attempt_pending,
)
from accounts.models import User
from accounts.stages import (
    SECOND_FACTOR_BY_PROVIDER_SESSION_KEY,
    factor_policy,
    sign_in_gates,
    sign_in_step,
    steps_due,
)
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.selectors import access_list_allows
from teams.services.access_list import access_list_sign_in_refuse
from teams.services.sessions import session_forget, session_track

# The waiting attempt of a request, once read with its person: the middleware and the step's
# page share it, so the person and the policy are read once per request.
_read: WeakKeyDictionary = WeakKeyDictionary()


def sign_in_run(
    *,
    request: HttpRequest,
    attempt: SignInAttempt,
    user: User,
    admitted: Callable[[], None] | None = None,
) -> str | None:
    """Run an attempt whose door proved its first factor. Returns the address of the first
    step due, or None when the person is now signed in.

    The gates run first, once, in order, and refuse with a `SignInRefused` before anything of
    the sign-in is kept; `admitted`, a door's own follow-up (the password's proof and its
    breached-password check), runs right after them. A proof some step finds already made (a
    remembered browser) is added next, after the gates, so it never stands in for one of them,
    and counts only where the policy counts its kind.
    """
    attempt = replace(attempt, person=user)
    for gate in sign_in_gates():
        attempt = gate.check(request=request, attempt=attempt, user=user)
    if admitted is not None:
        admitted()
    policy = factor_policy(user=user)
    due = steps_due(user=user, attempt=attempt, policy=policy)
    for key in due:
        step = sign_in_step(key)
        finder = step.proof_found
        proof = finder(request=request, user=user, policy=policy) if finder else None
        if proof is not None:
            attempt = attempt.with_proof(proof.kind, device=proof.device)
            due = steps_due(user=user, attempt=attempt, policy=policy)
            break
    if not due:
        return _sign_in_complete(request=request, attempt=attempt, user=user)
    attempt = replace(attempt, due=due, password_hash=user.get_session_auth_hash(), policy=policy)
    with transaction.atomic():
        lockout.attempt_settle(request=request, email=user.email, restart_account=False)
        request.session.cycle_key()
        rotate_token(request)
        attempt_keep(request, attempt)
        audit_event_record(
            event=AuditEventType.SECOND_STEP_DUE,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"step": due[0], **({"via": attempt.via} if attempt.via else {})},
        )
    _read[request] = attempt
    return reverse(sign_in_step(due[0]).url_name)


def attempt_waiting(request: HttpRequest) -> SignInAttempt | None:
    """The attempt waiting in this session, with its person, and its steps derived again now.

    A person deactivated (or deleted) meanwhile ends the attempt here: kept, it would send the
    sign-in page back to its step, which sends the browser to the sign-in page, in an endless
    loop until it timed out. So does a password changed, reset or made unusable since the
    attempt proved it: whoever knew the old one (an intruder the person has just shut out)
    must not go on to sign in, or to choose a new password. And so does a policy that now
    calls for no step at all (the person's factors were removed meanwhile): the attempt starts
    again from the sign-in page rather than be completed by whatever page is open.
    """
    if request in _read:
        return _read[request]
    attempt = attempt_pending(request)
    if attempt is None:
        return None
    user = (
        User.objects.select_related("tenant", "role")
        .filter(pk=attempt.user_id, is_active=True)
        .first()
    )
    due, policy = (), None
    if user is not None and constant_time_compare(
        attempt.password_hash, user.get_session_auth_hash()
    ):
        policy = factor_policy(user=user)
        due = steps_due(user=user, attempt=attempt, policy=policy)
    if not due:
        attempt_forget(request)
        return None
    if due != attempt.due:
        attempt = replace(attempt, due=due)
        attempt_keep(request, attempt)
    attempt = replace(attempt, person=user, policy=policy)
    _read[request] = attempt
    return attempt


def attempt_at_step(*, request: HttpRequest, step: str) -> SignInAttempt | None:
    """The attempt waiting in this session if `step` is the one due for it now."""
    attempt = attempt_waiting(request)
    return attempt if attempt is not None and attempt.due[0] == step else None


def pending_sign_in_user(*, request: HttpRequest, step: str) -> User | None:
    """The person whose attempt waits at `step` in this session, if any."""
    attempt = attempt_at_step(request=request, step=step)
    return attempt.person if attempt is not None else None


def pending_sign_in_refused_by_access_list(*, request: HttpRequest) -> User | None:
    """The person whose waiting attempt this request's address may not carry on, if any.

    The gates checked the address once; the person may then move, or their address leave the
    list, before the last step. So every request of a waiting attempt asks again
    (accounts/middleware.py), and a refused one ends the attempt, recorded once as
    `SIGN_IN_REFUSED_BY_ACCESS_LIST`: what was passed so far is worth nothing from here, and
    coming back inside needs the first factor again. No lockout slot is touched: no secret was
    checked.
    """
    attempt = attempt_waiting(request)
    if attempt is None or access_list_allows(user=attempt.person, ip=client_ip(request)):
        return None
    with transaction.atomic():
        attempt_forget(request)
        _read.pop(request, None)
        access_list_sign_in_refuse(request=request, user=attempt.person)
    return attempt.person


def attempt_password_rebind(*, request: HttpRequest, user: User) -> None:
    """The new-password step set the person's password: its attempt goes on with it."""
    attempt = attempt_waiting(request)
    if attempt is not None and attempt.user_id == user.pk:
        attempt = replace(attempt, password_hash=user.get_session_auth_hash(), person=user)
        attempt_keep(request, attempt)
        _read[request] = attempt


def sign_in_step_passed(
    *,
    request: HttpRequest,
    step: str,
    proved: str | None = None,
    device: Device | None = None,
) -> str | None:
    """A step's page saw its step passed (proving a factor of kind `proved`, by `device`).
    Returns the address of the next step due, or None when the person is now signed in.

    Only the step due when this request began passes; any other answer sends the attempt back
    to the sign-in page. The steps are derived again afterwards, under the policy this request
    read, or decided anew after a step that enrolled a factor.
    """
    attempt = attempt_waiting(request)
    if attempt is None or attempt.due[0] != step:
        attempt_forget(request)
        _read.pop(request, None)
        return reverse(settings.LOGIN_URL)
    user = attempt.person
    if proved is not None:
        attempt = attempt.with_proof(proved, device=device)
    if sign_in_step(step).enrols:
        attempt = replace(attempt, policy=factor_policy(user=user))
    due = steps_due(user=user, attempt=attempt, policy=attempt.policy)
    if due:
        attempt = replace(attempt, due=due)
        with transaction.atomic():
            lockout.attempt_settle(request=request, email=user.email, restart_account=False)
            attempt_keep(request, attempt)
        _read[request] = attempt
        return reverse(sign_in_step(due[0]).url_name)
    return _sign_in_complete(request=request, attempt=attempt, user=user)


def _session_sign_in(*, request: HttpRequest, user: User, backend: str) -> None:
    """What Django's `login()` does to the session, without its `user_logged_in` signal, whose
    receivers' work (`last_login`, the session's tracking) `_sign_in_complete` does itself."""
    session = request.session
    session_auth_hash = user.get_session_auth_hash()
    if SESSION_KEY not in session:
        session.cycle_key()
    elif session[SESSION_KEY] != user._meta.pk.value_to_string(user) or not constant_time_compare(
        session.get(HASH_SESSION_KEY, ""), session_auth_hash
    ):
        session.flush()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = session_auth_hash
    request.user = user
    rotate_token(request)


def _sign_in_complete(*, request: HttpRequest, attempt: SignInAttempt, user: User) -> str | None:
    """The one moment a sign-in is complete. Whatever must happen once per completed sign-in
    happens here and nowhere else.

    The session gets a new key and its person; `last_login` is set by an UPDATE that also
    locks the person's row, so parallel sign-ins queue there and each counts the sessions the
    others made under the cap (`session_track`). A person deactivated since the attempt was
    read is not signed in: the UPDATE finds no active row, and the sign-in page is next (its
    address is returned; None when the person is signed in). The account's failure counter starts
    again only now: a right first factor alone must not restart the count of guessed codes.
    """
    with transaction.atomic():
        attempt_forget(request)
        _read.pop(request, None)
        now = timezone.now()
        first_sign_in = user.last_login is None
        if not User.objects.filter(pk=user.pk, is_active=True).update(last_login=now):
            return reverse(settings.LOGIN_URL)
        user.last_login = now
        _session_sign_in(request=request, user=user, backend=attempt.backend)
        session_track(
            request=request,
            user=user,
            person_locked=True,
            provider_session=attempt.provider_session,
        )
        device = attempt.device
        if device is None and attempt.otp_device:
            device = Device.from_persistent_id(attempt.otp_device)
        if device is not None:
            otp_login(request, device)
        if attempt.second_factor == PROVIDER_MFA:
            request.session[SECOND_FACTOR_BY_PROVIDER_SESSION_KEY] = True
        lockout.attempt_settle(request=request, email=user.email, restart_account=True)
        signed_in = audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            # The door and the second factor name the method the history and trail show
            # (audit/sign_in_methods.py): a passkey alone and a password then a passkey differ
            # by door only.
            details={
                "door": attempt.door,
                "second_factor": attempt.second_factor_label,
                **({"via": attempt.via} if attempt.via else {}),
            },
        )
        sign_in_unusual_check(
            request=request,
            user=user,
            sign_in=signed_in,
            began_at=attempt.began_at,
            first_sign_in=first_sign_in,
        )
    return None


def user_sign_out(*, request: HttpRequest) -> None:
    """Sign out, or abandon a waiting attempt: either way the session is flushed."""
    user = request.user
    with transaction.atomic():
        if user.is_authenticated:
            audit_event_record(
                event=AuditEventType.SIGNED_OUT,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
            )
        session_forget(session_key=request.session.session_key)
        logout(request)
