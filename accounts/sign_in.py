"""The sign-in: the password step, the steps after it, completion, failures and sign-out.

Nobody is signed in until every step is done (see accounts/stages.py): the password step only
records a pending sign-in; `login()`, the session's tracking row and its place under the
session cap, `last_login`, the unusual-sign-in check and the "signed in" event all happen in
`_sign_in_complete`, once, after the last step.

Secret checks, failures and the fresh password proof are in accounts/proofs.py.
"""

import time
from dataclasses import replace

from django.conf import settings
from django.contrib.auth import login, logout
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.debug import sensitive_variables
from django_otp import login as otp_login
from django_otp.models import Device

from accounts import lockout
from accounts.alerts import sign_in_unusual_check
from accounts.breached import breached_password_sign_in_check
from accounts.models import User
from accounts.stages import (
    SECOND_FACTOR_BY_PROVIDER_SESSION_KEY,
    PendingSignIn,
    password_sign_in_refusal,
    pending_sign_in,
    pending_sign_in_forget,
    pending_sign_in_save,
    sign_in_steps_due,
    sign_in_steps_passed_before,
)
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.proofs import password_proof_record
from teams.selectors import access_list_allows
from teams.services.access_list import access_list_sign_in_refuse
from teams.services.sessions import SIGN_IN_LOCKS_PERSON, session_forget

SECOND_FACTOR_BY_PROVIDER = "identity_provider"
# The person of this request's pending sign-in, once read (`pending_sign_in_user`).
_PENDING_PERSON = "_accounts_pending_person"


class SignInRefusedByAccessList(Exception):
    """The password was right, but the person's tenant allows no sign-in from this address."""


class SignInRefusedForPassword(Exception):
    """The password was right, but the person's tenant signs its people in through single
    sign-on only (and they are not one of its break-glass people). `instead` names the way."""

    def __init__(self, instead: str) -> None:
        super().__init__(instead)
        self.instead = instead


class SignInRefusedByLock(Exception):
    """A sign-in that checked no secret of ours (single sign-on) met a lock on the person's
    email or the client IP. The lock notice answers the request (axes' middleware)."""


def _step_address(pending: PendingSignIn) -> str:
    return reverse(pending.current_step.url_name)


def _access_list_check(*, request: HttpRequest, user: User) -> None:
    """Raise `SignInRefusedByAccessList` when the person's tenant allows no sign-in from here.

    Checked only after the credential, so the answer tells someone without it nothing about
    which emails exist; and it is no failed credential: the lockout slot is given back and no
    `SIGN_IN_FAILED` is recorded.
    """
    if not access_list_allows(user=user, ip=client_ip(request)):
        with transaction.atomic():
            lockout.attempt_settle(request=request, email=user.email, restart_account=False)
            access_list_sign_in_refuse(request=request, user=user)
        raise SignInRefusedByAccessList


@sensitive_variables("password")
def user_sign_in(*, request: HttpRequest, user: User, password: str) -> str | None:
    """The password was right. Returns the address of the first step still due, or None when
    the password completes the sign-in.

    With steps due, the session stays anonymous: it only holds the pending sign-in, under a new
    key (a session id planted before the password is worth nothing afterwards). The password
    itself is only passed for the tenant's breached-password check, the one moment it is in
    clear; a breached one makes the new-password step due. A due step this request has already
    passed (a remembered browser stands in for the second factor) is dropped here, after the
    password and the IP access list, so it never stands in for either.

    An address outside the tenant's IP access list raises `SignInRefusedByAccessList` before
    anything of the sign-in is kept. A person whose tenant requires single sign-on (and who is
    not one of its break-glass people) gets `SignInRefusedForPassword`, also only now, after
    the password, so the refusal tells someone without it nothing about the account.
    """
    instead = password_sign_in_refusal(user=user)
    if instead is not None:
        with transaction.atomic():
            lockout.attempt_settle(request=request, email=user.email, restart_account=False)
            audit_event_record(
                event=AuditEventType.SSO_PASSWORD_REFUSED,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"instead": instead},
            )
        raise SignInRefusedForPassword(instead)
    _access_list_check(request=request, user=user)
    password_proof_record(request=request)
    breached_password_sign_in_check(request=request, user=user, password=password)
    due, passed = sign_in_steps_passed_before(
        request=request, user=user, due=sign_in_steps_due(user=user)
    )
    return _sign_in_continue(
        request=request,
        user=user,
        backend=user.backend,
        due=due,
        second_factor=passed.second_factor if passed else None,
        otp_device=passed.otp_device if passed else None,
    )


def user_sign_in_external(
    *, request: HttpRequest, user: User, via: dict, second_factor_done: bool
) -> str | None:
    """An identity provider vouched for this person (single sign-on). Returns the address of
    the first step still due, or None when the person is now signed in.

    Everything that holds for a password sign-in holds here: a lock on the email or the client
    IP refuses it (`SignInRefusedByLock`), the IP access list applies, the steps after the
    first one are due as usual (the second factor too, unless the tenant accepts the
    provider's own, `second_factor_done`, or a remembered browser stands in for it), and only
    `_sign_in_complete` signs in. `via` (the provider's name, kind and the person's subject
    there) goes into the sign-in's events.
    """
    lockout.attempt_settle_later(request)
    if lockout.attempt_begin(request=request, email=user.email) is not None:
        raise SignInRefusedByLock
    lockout.attempt_succeeded(request=request)
    _access_list_check(request=request, user=user)
    due, passed = sign_in_steps_passed_before(
        request=request,
        user=user,
        due=sign_in_steps_due(user=user, second_factor_done=second_factor_done),
    )
    if second_factor_done:
        second_factor, otp_device = SECOND_FACTOR_BY_PROVIDER, None
    else:
        second_factor = passed.second_factor if passed else None
        otp_device = passed.otp_device if passed else None
    return _sign_in_continue(
        request=request,
        user=user,
        backend=settings.AUTHENTICATION_BACKENDS[0],
        due=due,
        via=via,
        second_factor=second_factor,
        otp_device=otp_device,
    )


def user_sign_in_without_password(
    *, request: HttpRequest, user: User, second_factor: str, otp_device: Device
) -> str | None:
    """A factor that stands for the password and the second step at once (a passkey that
    verified its holder) was proved. Returns the address of the first step still due, or None
    when the sign-in is complete.

    The app that checked the factor has already taken and settled its lockout slot; the rest
    is the password's path: the IP access list refuses (`SignInRefusedByAccessList`) before
    anything is kept, the steps a second factor does not stand for (a required new password)
    stay due, and `_sign_in_complete` applies the session cap and the unusual-sign-in check.
    No password proof is recorded: changing factors afterwards still asks for the password.
    """
    _access_list_check(request=request, user=user)
    return _sign_in_continue(
        request=request,
        user=user,
        backend=settings.AUTHENTICATION_BACKENDS[0],
        due=sign_in_steps_due(user=user, second_factor_done=True),
        second_factor=second_factor,
        otp_device=otp_device.persistent_id,
    )


def _sign_in_continue(
    *,
    request: HttpRequest,
    user: User,
    backend: str,
    due: list[str],
    via: dict | None = None,
    second_factor: str | None = None,
    otp_device: str | None = None,
) -> str | None:
    """The first credential was right: complete the sign-in, or keep it pending at its next
    step (under a new session key) and return that step's address."""
    if not due:
        _sign_in_complete(
            request=request,
            user=user,
            backend=backend,
            second_factor=second_factor,
            otp_device=otp_device,
            via=via,
        )
        return None
    pending = PendingSignIn(
        user_id=user.pk,
        backend=backend,
        started_at=time.time(),
        due=tuple(due),
        second_factor=second_factor,
        otp_device=otp_device,
        via=via,
        password_hash=user.get_session_auth_hash(),
    )
    with transaction.atomic():
        lockout.attempt_settle(request=request, email=user.email, restart_account=False)
        request.session.cycle_key()
        rotate_token(request)
        pending_sign_in_save(request, pending)
        audit_event_record(
            event=AuditEventType.SECOND_STEP_DUE,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"step": due[0], **({"via": via} if via else {})},
        )
    return _step_address(pending)


def pending_sign_in_user(*, request: HttpRequest, step: str) -> User | None:
    """The person whose pending sign-in waits at `step` in this session, if any.

    A person deactivated (or deleted) meanwhile ends the pending sign-in here: kept, it would
    send the sign-in page back to this step, which sends the browser to the sign-in page, in
    an endless loop until the pending sign-in timed out. So does a password changed, reset or
    made unusable since the pending sign-in proved it: whoever knew the old one (an intruder
    the person has just shut out) must not go on to sign in, or to choose a new password.
    """
    pending = pending_sign_in(request)
    if pending is None or pending.due[0] != step:
        return None
    known = getattr(request, _PENDING_PERSON, None)
    if known is not None and known.pk == pending.user_id:
        return known
    user = (
        User.objects.select_related("tenant", "role")
        .filter(pk=pending.user_id, is_active=True)
        .first()
    )
    if user is None or not _password_unchanged(pending, user):
        pending_sign_in_forget(request)
        return None
    setattr(request, _PENDING_PERSON, user)
    return user


def pending_sign_in_refused_by_access_list(*, request: HttpRequest) -> User | None:
    """The person whose pending sign-in this request's address may not carry on, if any.

    The password step checked the address once; the person may then move, or their address
    leave the list, before the last step. So every request of a pending sign-in asks again
    (accounts/middleware.py), and a refused one ends the pending sign-in, recorded once as
    `SIGN_IN_REFUSED_BY_ACCESS_LIST`: what was passed so far is worth nothing from here, and
    coming back inside needs the password again. No lockout slot is touched: no secret was
    checked. The person read here is kept on the request for the step's page, so asking costs
    no query a tenant without a list did not already pay.
    """
    pending = pending_sign_in(request)
    if pending is None:
        return None
    user = pending_sign_in_user(request=request, step=pending.due[0])
    if user is None or access_list_allows(user=user, ip=client_ip(request)):
        return None
    with transaction.atomic():
        pending_sign_in_forget(request)
        access_list_sign_in_refuse(request=request, user=user)
    return user


def _password_unchanged(pending: PendingSignIn, user: User) -> bool:
    return constant_time_compare(pending.password_hash, user.get_session_auth_hash())


def pending_sign_in_password_rebind(*, request: HttpRequest, user: User) -> None:
    """The new-password step set the person's password: its pending sign-in goes on with it."""
    pending = pending_sign_in(request)
    if pending is not None and pending.user_id == user.pk:
        pending_sign_in_save(request, replace(pending, password_hash=user.get_session_auth_hash()))


def sign_in_step_passed(
    *,
    request: HttpRequest,
    step: str,
    second_factor: str | None = None,
    otp_device: Device | None = None,
) -> str | None:
    """A step's page saw its step passed. Returns the address of the next step due, or None
    when that was the last one and the person is now signed in.

    A person deactivated meanwhile is not signed in: the pending sign-in is dropped and the
    sign-in page is next, and so it is when the password changed since it was proved (see
    `pending_sign_in_user`; the new-password step rebinds its own pending sign-in first).
    """
    pending = pending_sign_in(request)
    if pending is None or pending.due[0] != step:
        return reverse(settings.LOGIN_URL)
    pending = replace(
        pending,
        due=pending.due[1:],
        second_factor=second_factor or pending.second_factor,
        otp_device=otp_device.persistent_id if otp_device is not None else pending.otp_device,
    )
    user = User.objects.select_related("tenant", "role").filter(pk=pending.user_id).first()
    if user is None or not user.is_active or not _password_unchanged(pending, user):
        pending_sign_in_forget(request)
        return reverse(settings.LOGIN_URL)
    if pending.due:
        pending_sign_in_save(request, pending)
        return _step_address(pending)
    _sign_in_complete(
        request=request,
        user=user,
        backend=pending.backend,
        second_factor=pending.second_factor,
        otp_device=pending.otp_device,
        via=pending.via,
    )
    return None


def _sign_in_complete(
    *,
    request: HttpRequest,
    user: User,
    backend: str,
    second_factor: str | None = None,
    otp_device: str | None = None,
    via: dict | None = None,
) -> None:
    """The one moment a sign-in is complete. Whatever must happen once per completed sign-in
    happens here and nowhere else.

    `login()` rotates the session key, sets `last_login`, and (through the `user_logged_in`
    receiver in teams) tracks the session against the person's cap. The account's failure
    counter starts again only now: a right password alone must not restart the count of
    guessed codes.
    """
    with transaction.atomic():
        pending_sign_in_forget(request)
        setattr(request, SIGN_IN_LOCKS_PERSON, user.pk)
        try:
            login(request, user, backend=backend)
        finally:
            delattr(request, SIGN_IN_LOCKS_PERSON)
        device = Device.from_persistent_id(otp_device) if otp_device else None
        if device is not None:
            otp_login(request, device)
        if second_factor == SECOND_FACTOR_BY_PROVIDER:
            request.session[SECOND_FACTOR_BY_PROVIDER_SESSION_KEY] = True
        lockout.attempt_settle(request=request, email=user.email, restart_account=True)
        signed_in = audit_event_record(
            event=AuditEventType.SIGN_IN_SUCCEEDED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"second_factor": second_factor or "none", **({"via": via} if via else {})},
        )
        sign_in_unusual_check(request=request, user=user, sign_in=signed_in)


def user_sign_out(*, request: HttpRequest) -> None:
    """Sign out, or abandon a pending sign-in: either way the session is flushed."""
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
