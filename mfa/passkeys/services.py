"""Writes for passkeys: registering, renaming and removing one, and proving one at sign-in
(as the second step, or alone where the tenant allows it).

Every ceremony's answer is checked in mfa/passkeys/ceremonies.py; here it meets the database:
the credential must belong to the person the sign-in is for, its counter must advance, and
every check takes a lockout slot first (`accounts.proofs.secret_check`) like a code does.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import AuthenticationCredential

from accounts import lockout, stages
from accounts.attempt import PASSKEY, PASSKEY_DOOR, SignInAttempt
from accounts.gates import SignInRefusedAtDoor, SignInRefusedByAccessList, SignInRefusedInactive
from accounts.models import User
from accounts.proofs import secret_check
from accounts.sign_in import sign_in_run
from audit.events import AuditEventType
from audit.services import audit_event_record
from mfa.apps import PASSKEY_ENROL_STEP
from mfa.models import PasskeyDevice
from mfa.passkeys import ceremonies
from mfa.passkeys.ceremonies import PasskeyRefused
from mfa.selectors import (
    confirmed_factor_exists,
    mfa_required_for,
    passkeys_for_user,
    phishing_resistant_required_for,
)
from mfa.services import other_sessions_end, second_factor_proved
from outbox.services import mail_enqueue
from teams.models import Tenant
from teams.services.remembered_browsers import remembered_browsers_forget

PASSKEY_NAME_MAX_LENGTH = 64
USER_HANDLE_BYTES = 32

# Why a passkey was refused; the views turn these into messages.
FAILED = "failed"
LOCKED = "locked"
ACCESS_LIST = "access_list"
SINGLE_SIGN_ON_REQUIRED = stages.SINGLE_SIGN_ON_REQUIRED


@dataclass(frozen=True)
class PasskeyCheck:
    """How proving a passkey ended: `next_step` is the address of a sign-in step still due."""

    verified: bool
    reason: str = ""
    next_step: str | None = None
    tenant: Tenant | None = None
    user: User | None = None


def _user_handle_for(user: User) -> str:
    """The person's WebAuthn user id: the one their passkeys already carry, else a new random
    one. Never the database id, which would tell the authenticator (and anyone reading it)
    how many people the site has."""
    existing = PasskeyDevice.objects.filter(user=user).values_list("user_handle", flat=True)
    return existing.first() or bytes_to_base64url(secrets.token_bytes(USER_HANDLE_BYTES))


def passkey_registration_begin(*, request: HttpRequest, user: User) -> dict:
    """Options for the browser to make a passkey for `user`, with a challenge kept in this
    session."""
    return ceremonies.registration_options(
        request=request,
        user_id=user.pk,
        user_handle=_user_handle_for(user),
        user_name=user.email,
        display_name=user.get_full_name() or user.email,
        exclude_credential_ids=[passkey.credential_id for passkey in passkeys_for_user(user=user)],
    )


def passkey_register(
    *, request: HttpRequest, user: User, name: str, answer: str, sign_out_others: bool = False
) -> tuple[PasskeyDevice, str | None]:
    """Keep the passkey the browser made, named `name`. Returns it and the address of the
    sign-in step still due, if this was a step of a sign-in.

    A credential already registered (to this person or anyone else) is refused: an
    authenticator never reuses a credential id, so a second registration of one is a replay or
    a forgery. Registering proves the factor, so the session counts as verified. With
    `sign_out_others`, every other session of the person ends too.
    """
    try:
        new = ceremonies.registration_verify(request=request, user_id=user.pk, answer=answer)
    except PasskeyRefused as refused:
        raise ValidationError(
            _("Your passkey could not be added. Try again, and follow your browser's prompts."),
            code=refused.reason,
        ) from refused
    try:
        with transaction.atomic():
            passkey = PasskeyDevice.objects.create(
                user=user,
                name=name,
                confirmed=True,
                credential_id=new.credential_id,
                public_key=new.public_key,
                user_handle=new.user_handle,
                sign_count=new.sign_count,
                aaguid=new.aaguid,
                transports=new.transports,
                backup_eligible=new.backup_eligible,
                backed_up=new.backed_up,
            )
            audit_event_record(
                event=AuditEventType.PASSKEY_ADDED,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
                details={
                    "name": name,
                    "backup_eligible": new.backup_eligible,
                    "backed_up": new.backed_up,
                },
            )
            mail_enqueue(to=user.email, kind="passkey_added", context={"name": name})
            if sign_out_others:
                other_sessions_end(request=request, user=user)
            next_step = second_factor_proved(
                request=request, device=passkey, method="passkey", step=PASSKEY_ENROL_STEP
            )
    except IntegrityError as error:
        with transaction.atomic():
            audit_event_record(
                event=AuditEventType.PASSKEY_REFUSED,
                actor=user,
                tenant=user.tenant,
                target=user,
                request=request,
                details={"ceremony": "register", "reason": "already_registered"},
            )
        raise ValidationError(
            _("This passkey is already registered. Use it to sign in, or add another one."),
            code="already_registered",
        ) from error
    return passkey, next_step


def passkey_rename(*, request: HttpRequest, user: User, passkey: PasskeyDevice, name: str) -> None:
    if passkey.user_id != user.pk:
        raise ValidationError(_("That passkey is not yours."), code="not_yours")
    if passkey.name == name:
        return
    with transaction.atomic():
        old_name = passkey.name
        passkey.name = name
        passkey.save(update_fields=["name"])
        audit_event_record(
            event=AuditEventType.PASSKEY_RENAMED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"from": old_name, "to": name},
        )


def passkey_remove(
    *, request: HttpRequest, user: User, passkey: PasskeyDevice, sign_out_others: bool = False
) -> None:
    """Remove one of one's own passkeys (after a fresh proof, checked by the view); browsers
    remembered for the second step are forgotten, as for any factor removed. With
    `sign_out_others`, every other session of the person ends.

    Refused when it is the last passkey of someone who must use one, or the last factor of
    someone who must have one: they register a new one first.
    """
    if passkey.user_id != user.pk:
        raise ValidationError(_("That passkey is not yours."), code="not_yours")
    with transaction.atomic():
        others = PasskeyDevice.objects.filter(user=user, confirmed=True).exclude(pk=passkey.pk)
        if phishing_resistant_required_for(user=user) and not others.exists():
            raise ValidationError(
                _(
                    "Your organisation requires a passkey, so you can't remove your last one. "
                    "Add another passkey first."
                ),
                code="passkey_required",
            )
        name = passkey.name
        passkey.delete()
        if mfa_required_for(user=user) and not confirmed_factor_exists(user=user):
            transaction.set_rollback(True)
            raise ValidationError(
                _(
                    "Your organisation requires two-factor authentication, so you can't remove "
                    "your last factor. Add another passkey or an authenticator app first."
                ),
                code="mfa_required",
            )
        audit_event_record(
            event=AuditEventType.PASSKEY_REMOVED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"name": name},
        )
        mail_enqueue(to=user.email, kind="passkey_removed", context={"name": name})
        remembered_browsers_forget(user=user, actor=user, reason="factor removed", request=request)
        if sign_out_others:
            other_sessions_end(request=request, user=user)


def passkey_second_step_begin(*, request: HttpRequest, user: User) -> dict:
    """Options for the second step: this person's own passkeys, with a new challenge."""
    return ceremonies.authentication_options(
        request=request,
        purpose=ceremonies.SECOND_STEP,
        user_id=user.pk,
        allow_credential_ids=[passkey.credential_id for passkey in passkeys_for_user(user=user)],
    )


def passkey_second_step_verify(*, request: HttpRequest, user: User, answer: str) -> PasskeyCheck:
    """The second step with a passkey instead of a code. Only the person's own passkey passes;
    someone else's is refused and recorded, and every refusal counts toward the lockout."""
    outcome: dict = {}
    if not request.user.is_authenticated:
        # Settled with the attempt, in one UPDATE (see `mfa.services.second_step_verify`).
        lockout.attempt_settle_later(request)

    def check() -> bool:
        outcome["passkey"] = _assertion_check(
            request=request, purpose=ceremonies.SECOND_STEP, expected_user=user, answer=answer
        )
        return outcome["passkey"] is not None

    guarded = secret_check(
        request=request, email=user.email, check=check, failure_event=AuditEventType.MFA_FAILED
    )
    if guarded.refused_by is not None:
        return PasskeyCheck(verified=False, reason=LOCKED)
    if not guarded.ok:
        return PasskeyCheck(verified=False, reason=FAILED)
    next_step = second_factor_proved(
        request=request, device=outcome["passkey"], method="passkey", step="verify"
    )
    return PasskeyCheck(verified=True, next_step=next_step)


def passkey_proof_verify(*, request: HttpRequest, user: User, answer: str) -> PasskeyCheck:
    """The signed-in person's passkey on the proof page (/mfa/confirm-password/), answering the
    options of `passkey_second_step_begin`. Checked as at the second step (only their own
    passkey passes, each refusal counts toward the lockout) but it signs nobody in: the caller
    records the proof."""

    def check() -> bool:
        return (
            _assertion_check(
                request=request, purpose=ceremonies.SECOND_STEP, expected_user=user, answer=answer
            )
            is not None
        )

    guarded = secret_check(
        request=request, email=user.email, check=check, failure_event=AuditEventType.MFA_FAILED
    )
    if guarded.refused_by is not None:
        return PasskeyCheck(verified=False, reason=LOCKED)
    return PasskeyCheck(verified=guarded.ok, reason="" if guarded.ok else FAILED)


def passkey_sign_in_begin(*, request: HttpRequest) -> dict:
    """Options for signing in with a passkey alone: no credentials listed (the browser offers
    this site's passkeys), the holder must be verified."""
    return ceremonies.authentication_options(
        request=request, purpose=ceremonies.SIGN_IN, user_id=None, allow_credential_ids=[]
    )


def passkey_sign_in(*, request: HttpRequest, answer: str) -> PasskeyCheck:
    """The passkey-alone door: sign in with a passkey, where the person's tenant allows it.

    The passkey stands for the password and the second step; its attempt then runs every gate
    and step of a sign-in (`accounts.sign_in.sign_in_run`): the lockout of the person it names
    (a locked account is refused before the passkey is checked, here), the door's rules (the
    tenant allows no passkey alone: `passwordless_off`; it requires single sign-on:
    `single_sign_on_required`), the IP access list (refused as `ACCESS_LIST`, with the tenant
    to name), later steps such as a required new password, the session cap and the
    unusual-sign-in check. No password proof is recorded: changing factors afterwards still
    asks for the password.
    """
    try:
        credential = ceremonies.authentication_answer_parse(answer)
    except PasskeyRefused:
        credential = None
    owner = (
        User.objects.select_related("tenant", "role")
        .filter(
            is_active=True,
            passkeydevice__credential_id=credential.id,
            passkeydevice__confirmed=True,
        )
        .first()
        if credential is not None
        else None
    )
    outcome: dict = {}

    def check() -> bool:
        outcome["passkey"] = _assertion_check(
            request=request, purpose=ceremonies.SIGN_IN, expected_user=None, answer=answer
        )
        return outcome["passkey"] is not None and outcome["passkey"].user_id == getattr(
            owner, "pk", None
        )

    guarded = secret_check(
        request=request,
        email=owner.email if owner else "",
        check=check,
        failure_event=AuditEventType.PASSKEY_SIGN_IN_FAILED,
    )
    if guarded.refused_by is not None:
        return PasskeyCheck(verified=False, reason=LOCKED)
    if not guarded.ok:
        return PasskeyCheck(verified=False, reason=FAILED)
    attempt = SignInAttempt(
        user_id=owner.pk, door=PASSKEY_DOOR, backend=settings.AUTHENTICATION_BACKENDS[0]
    ).with_proof(PASSKEY, device=outcome["passkey"])

    def admitted() -> None:
        audit_event_record(
            event=AuditEventType.PASSKEY_SIGN_IN_PASSED,
            actor=owner,
            tenant=owner.tenant,
            target=owner,
            request=request,
            details={"passkey": outcome["passkey"].name},
        )

    try:
        next_step = sign_in_run(request=request, attempt=attempt, user=owner, admitted=admitted)
    except SignInRefusedAtDoor as refused:
        return PasskeyCheck(verified=False, reason=refused.refusal.reason)
    except SignInRefusedInactive:
        return PasskeyCheck(verified=False, reason=FAILED)
    except SignInRefusedByAccessList:
        return PasskeyCheck(verified=False, reason=ACCESS_LIST, tenant=owner.tenant)
    return PasskeyCheck(verified=True, next_step=next_step, user=owner)


def _assertion_check(
    *, request: HttpRequest, purpose: str, expected_user: User | None, answer: str
) -> PasskeyDevice | None:
    """Check an answer to an authentication ceremony against the passkey it names, under a row
    lock on that passkey (so one answer raced twice passes once). The passkey when proved;
    otherwise None, with the refusals that matter recorded: another person's passkey, and a
    counter that did not advance (a cloned authenticator, WebAuthn L2 §6.1.1). One answer
    posted twice at once from its session passes once: the second waits for the lock and finds
    its challenge already used."""
    try:
        credential = ceremonies.authentication_answer_parse(answer)
    except PasskeyRefused:
        credential = None
    with transaction.atomic():
        passkey = (
            PasskeyDevice.objects.select_for_update()
            .select_related("user")
            .filter(credential_id=credential.id, confirmed=True)
            .first()
            if credential is not None
            else None
        )
        try:
            # Taken first, whatever the answer: a challenge is good for one answer only.
            if passkey is None:
                ceremonies.challenge_discard(request=request, purpose=purpose)
                return None
            if expected_user is not None and passkey.user_id != expected_user.pk:
                ceremonies.challenge_discard(request=request, purpose=purpose)
                _refusal_record(
                    request=request,
                    user=expected_user,
                    details={"ceremony": purpose, "reason": "another_persons_passkey"},
                )
                return None
            if expected_user is None and not _user_handle_matches(credential, passkey):
                ceremonies.challenge_discard(request=request, purpose=purpose)
                _refusal_record(
                    request=request,
                    user=passkey.user,
                    details={"ceremony": purpose, "reason": "user_handle_mismatch"},
                )
                return None
            proved = ceremonies.authentication_verify(
                request=request,
                purpose=purpose,
                user_id=expected_user.pk if expected_user else None,
                credential=credential,
                public_key=bytes(passkey.public_key),
            )
        except PasskeyRefused:
            return None
        if proved.challenge == passkey.last_challenge:
            return None
        if ceremonies.counter_went_backwards(stored=passkey.sign_count, reported=proved.sign_count):
            audit_event_record(
                event=AuditEventType.PASSKEY_COUNTER_WENT_BACKWARDS,
                actor=None,
                tenant=passkey.user.tenant,
                target=passkey.user,
                request=request,
                details={
                    "passkey": passkey.name,
                    "stored": passkey.sign_count,
                    "reported": proved.sign_count,
                },
            )
            return None
        passkey.sign_count = proved.sign_count
        passkey.backup_eligible = proved.backup_eligible
        passkey.backed_up = proved.backed_up
        passkey.last_used_at = timezone.now()
        passkey.last_challenge = proved.challenge
        passkey.save(
            update_fields=[
                "sign_count",
                "backup_eligible",
                "backed_up",
                "last_used_at",
                "last_challenge",
            ]
        )
        if purpose == ceremonies.SECOND_STEP:
            audit_event_record(
                event=AuditEventType.MFA_VERIFIED,
                actor=passkey.user,
                tenant=passkey.user.tenant,
                target=passkey.user,
                request=request,
                details={"method": "passkey", "passkey": passkey.name},
            )
    return passkey


def _user_handle_matches(credential: AuthenticationCredential, passkey: PasskeyDevice) -> bool:
    """A discoverable passkey names its person; it must be the person it was registered to."""
    handle = credential.response.user_handle
    return handle is not None and bytes_to_base64url(handle) == passkey.user_handle


def _refusal_record(*, request: HttpRequest, user: User, details: dict) -> None:
    audit_event_record(
        event=AuditEventType.PASSKEY_REFUSED,
        actor=None,
        tenant=user.tenant,
        target=user,
        request=request,
        details=details,
    )
