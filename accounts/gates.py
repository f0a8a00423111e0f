"""The gates every sign-in attempt passes once, in this order, whatever its door: the lockout
slot, the person's state, whether the door is open to this person, the tenant's IP access list.

Each gate refuses by raising a `SignInRefused`; a refused right credential gives its lockout
slot back (it is no failed guess) unless the gate says otherwise. Registered in
`AccountsConfig.ready()` (accounts/stages.py keeps the registry).
"""

from dataclasses import replace

from django.db import transaction
from django.http import HttpRequest

from accounts import lockout
from accounts.attempt import (
    PASSWORD_DOOR,
    SLOT_HELD,
    SLOT_TO_TAKE,
    SignInAttempt,
)
from accounts.models import User
from accounts.stages import DoorRefusal, SignInGate, door_refusal, sign_in_gate_register
from audit.client import client_ip
from audit.events import AuditEventType
from audit.services import audit_event_record
from teams.selectors import access_list_allows
from teams.services.access_list import access_list_sign_in_refuse


class SignInRefused(Exception):
    """A gate refused the attempt."""


class SignInRefusedByLock(SignInRefused):
    """An attempt that checked no secret of ours (single sign-on) met a lock on the person's
    email or the client IP. The lock notice answers the request (axes' middleware)."""


class SignInRefusedInactive(SignInRefused):
    """The person was deactivated: no door lets them in."""


class SignInRefusedAtDoor(SignInRefused):
    """The credential was right, but this door is shut for this person (`refusal.reason`):
    their tenant signs them in through single sign-on only, say, and `refusal.instead` names
    that way."""

    def __init__(self, refusal: DoorRefusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.instead = refusal.instead


class SignInRefusedByAccessList(SignInRefused):
    """The credential was right, but the person's tenant allows no sign-in from this
    address."""


def lockout_gate(*, request: HttpRequest, attempt: SignInAttempt, user: User) -> SignInAttempt:
    """A door that checked no secret of ours (single sign-on) takes its lockout slot here, so a
    lock on the email or the client IP refuses it too; the slot is settled with the attempt.
    The others took theirs around their own secret check."""
    if attempt.slot != SLOT_TO_TAKE:
        return attempt
    lockout.attempt_settle_later(request)
    if lockout.attempt_begin(request=request, email=user.email) is not None:
        raise SignInRefusedByLock
    lockout.attempt_succeeded(request=request)
    return replace(attempt, slot=SLOT_HELD)


def person_gate(*, request: HttpRequest, attempt: SignInAttempt, user: User) -> SignInAttempt:
    """A deactivated person is refused at every door; the slot stays counted, as for a wrong
    credential."""
    if not user.is_active:
        raise SignInRefusedInactive
    return attempt


def door_gate(*, request: HttpRequest, attempt: SignInAttempt, user: User) -> SignInAttempt:
    """Whether this door is open to this person, by the registered rules (single sign-on
    required shuts the password and passkey-alone doors but for break-glass people; a tenant
    that allows no passkey alone shuts that door). Asked only after the credential, so the
    refusal tells someone without it nothing about the account. A shut password door is
    recorded as `SSO_PASSWORD_REFUSED`, a shut passkey door as a failed passkey sign-in."""
    refusal = door_refusal(attempt=attempt, user=user)
    if refusal is None:
        return attempt
    with transaction.atomic():
        lockout.attempt_settle(request=request, email=user.email, restart_account=False)
        if attempt.door == PASSWORD_DOOR:
            audit_event_record(
                event=AuditEventType.SSO_PASSWORD_REFUSED,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"instead": refusal.instead},
            )
        else:
            audit_event_record(
                event=AuditEventType.PASSKEY_SIGN_IN_FAILED,
                actor=None,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"email": user.email, "refused": refusal.reason},
            )
    raise SignInRefusedAtDoor(refusal)


def access_list_gate(*, request: HttpRequest, attempt: SignInAttempt, user: User) -> SignInAttempt:
    """The tenant's IP access list. Checked only after the credential, so the answer tells
    someone without it nothing about which emails exist; and it is no failed credential: the
    slot is given back and no `SIGN_IN_FAILED` is recorded."""
    if access_list_allows(user=user, ip=client_ip(request)):
        return attempt
    with transaction.atomic():
        lockout.attempt_settle(request=request, email=user.email, restart_account=False)
        access_list_sign_in_refuse(request=request, user=user)
    raise SignInRefusedByAccessList


def sign_in_gates_register() -> None:
    for key, order, check in (
        ("lockout", 10, lockout_gate),
        ("person", 20, person_gate),
        ("door", 30, door_gate),
        ("access_list", 40, access_list_gate),
    ):
        sign_in_gate_register(SignInGate(key=key, order=order, check=check))
