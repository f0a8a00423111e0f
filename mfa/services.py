"""Writes for second factors: the sign-in step, enrolment, removal, backup codes, owner reset."""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp import device_classes, devices_for_user
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import lockout
from accounts.attempt import REMEMBERED_BROWSER
from accounts.models import User
from accounts.proofs import secret_check
from accounts.sign_in import sign_in_step_passed
from accounts.stages import FactorPolicy, Proof
from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_event_record
from mfa.models import BackupCodeDevice, PasskeyDevice, backup_code_is_well_formed
from mfa.selectors import (
    SETUP_DEVICE_SESSION_KEY,
    codes_accepted_for,
    mfa_required_for,
)
from outbox.services import mail_enqueue
from teams import scopes
from teams.proofs import factor_proof_record, proof_is_fresh
from teams.rules import act_on
from teams.services.remembered_browsers import (
    RememberedToken,
    remembered_browser_add,
    remembered_browser_token,
    remembered_browser_use,
    remembered_browsers_forget,
)
from teams.services.sessions import session_key_cycle, user_sessions_end

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
TOTP_TOKEN_PATTERN = re.compile(r"[0-9]{6}")

# Why a code was refused; the views turn these into messages.
WRONG = "wrong"
THROTTLED = "throttled"
LOCKED = "locked"
PASSKEY_REQUIRED = "passkey_required"
STEP_NOT_DUE = "step_not_due"


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a code: verified, or why not (and until when, if throttled)."""

    verified: bool
    reason: str = ""
    retry_at: datetime | None = None
    backup_codes: list[str] | None = None
    next_step: str | None = None
    remembered: RememberedToken | None = None
    # After a backup code was used: how many are left, for the page that follows to say.
    codes_left: int | None = None


def _token_compact(token: str) -> str:
    return "".join(str(token).split()).replace("-", "")


def _device_token_check(device: Device | None, token: str) -> CodeCheck:
    """Check a code against a device loaded for update; throttling comes before the code."""
    if device is None:
        return CodeCheck(verified=False, reason=WRONG)
    allowed, info = device.verify_is_allowed()
    if not allowed:
        retry_at = (info or {}).get("locked_until")
        return CodeCheck(verified=False, reason=THROTTLED, retry_at=retry_at)
    if device.verify_token(token):
        return CodeCheck(verified=True)
    return CodeCheck(verified=False, reason=WRONG)


def second_factor_proved(
    *, request: HttpRequest, device: Device, method: str, step: str
) -> str | None:
    """A factor was proved in this session. Returns the address of the sign-in step still due.

    In a waiting sign-in attempt that passes `step`, and the sign-in completes when nothing else
    is due. A signed-in session (its person enrolled a factor, or one was added elsewhere) is
    marked verified by `device`; django_otp.login() leaves the session key as it was, so it is
    rotated here, as login() does. Either way the factor counts toward a fresh proof
    (teams/proofs.py).
    """
    factor_proof_record(request=request)
    if not request.user.is_authenticated:
        return sign_in_step_passed(request=request, step=step, proved=method, device=device)
    session_key_cycle(request=request)
    otp_login(request, device)
    return None


def remembered_browser_proof(
    *, request: HttpRequest, user: User, policy: FactorPolicy
) -> Proof | None:
    """The second step's stand-in: a browser this person had remembered (see
    teams/services/remembered_browsers.py), where the policy counts one (never for someone who
    must use a passkey: a cookie can be stolen, which is what a phishing-resistant factor is
    there to defeat). The session is then verified by one of the person's factors, as if its
    code had been typed, so every page treats it as complete. Without the cookie, nothing is
    read."""
    if REMEMBERED_BROWSER not in policy.counts or remembered_browser_token(request) is None:
        return None
    if not remembered_browser_use(request=request, user=user):
        return None
    device = next(devices_for_user(user, confirmed=True), None)
    return Proof(kind=REMEMBERED_BROWSER, device=device) if device is not None else None


def second_step_verify(
    *, request: HttpRequest, user: User, token: str, remember: bool = False
) -> CodeCheck:
    """The second sign-in step: an authenticator code or a backup code, told apart by shape.

    Each kind of code goes only to its own device, so a TOTP sign-in never touches (or
    throttles) the backup codes. The device row is locked while the code is checked and used,
    so parallel requests with one code get exactly one success. Like a password, each code
    takes its lockout slot before it is checked (`accounts.proofs.secret_check`), and every
    refused code counts as a failed sign-in toward the account lockout. With `remember`, a
    right code also remembers this browser (when the tenant allows it): the token for its
    cookie comes back in `remembered`. Someone who must use a passkey, and has one, gets no
    code checked at all.
    """
    if not codes_accepted_for(user=user):
        return CodeCheck(verified=False, reason=PASSKEY_REQUIRED)
    if not request.user.is_authenticated:
        # The slot is settled with the attempt, in the transaction that completes it or keeps
        # it waiting: one UPDATE instead of a give-back and then a restart.
        lockout.attempt_settle_later(request)

    def verified_record(method: str) -> None:
        audit_event_record(
            event=AuditEventType.MFA_VERIFIED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"method": method},
        )

    outcome, device, method = _code_check(
        request=request, user=user, token=token, on_right=verified_record
    )
    if not outcome.verified:
        return outcome
    next_step = second_factor_proved(request=request, device=device, method=method, step="verify")
    remembered = remembered_browser_add(request=request, user=user) if remember else None
    return replace(outcome, next_step=next_step, remembered=remembered)


def _code_check(
    *,
    request: HttpRequest,
    user: User,
    token: str,
    on_right: Callable[[str], None] | None = None,
) -> tuple[CodeCheck, Device | None, str]:
    """Check an authenticator or backup code, told apart by shape, each against its own device
    only (a TOTP check never touches or throttles the backup codes).

    The device row is locked while the code is checked and used, so parallel requests with one
    code get exactly one success; the check takes a lockout slot first (`secret_check`), and a
    wrong code is a `MFA_FAILED` toward the account lockout. A right code runs `on_right` with
    its kind, then a backup code is used up and its use mailed. Returns the outcome, the device
    that verified it and the code's kind.
    """
    compact = _token_compact(token)
    if TOTP_TOKEN_PATTERN.fullmatch(compact):
        model, method = TOTPDevice, "totp"
    elif backup_code_is_well_formed(compact):
        model, method = BackupCodeDevice, "backup_code"
    else:
        model, method = None, ""
    checked: dict = {}

    def check() -> bool:
        with transaction.atomic():
            device = (
                model.objects.select_for_update().filter(user=user, confirmed=True).first()
                if model
                else None
            )
            checked["outcome"] = _device_token_check(device, compact)
            if not checked["outcome"].verified:
                return False
            checked["device"] = device
            if on_right is not None:
                on_right(method)
            if isinstance(device, BackupCodeDevice):
                checked["codes_left"] = _backup_code_use_record(
                    request=request, user=user, device=device
                )
            return True

    guarded = secret_check(
        request=request, email=user.email, check=check, failure_event=AuditEventType.MFA_FAILED
    )
    if guarded.refused_by is not None:
        return CodeCheck(verified=False, reason=LOCKED), None, method
    outcome = replace(checked["outcome"], codes_left=checked.get("codes_left"))
    return outcome, checked.get("device"), method


def _backup_code_use_record(*, request: HttpRequest, user: User, device: BackupCodeDevice) -> int:
    """Audit and mail the use of a backup code; returns how many are left."""
    left = device.codes_left()
    audit_event_record(
        event=AuditEventType.BACKUP_CODE_USED,
        actor=user,
        tenant=user.tenant,
        target=user,
        request=request,
        details={"codes_left": left},
    )
    mail_enqueue(to=user.email, kind="backup_code_used", context={"codes_left": left})
    return left


def other_sessions_end(*, request: HttpRequest, user: User) -> int:
    """End every session of the person but this one, after a change to their factors.

    A sign-in still waiting for enrolment has no session of its own yet, so all end.
    """
    keep = request.session.session_key if request.user.is_authenticated else None
    return user_sessions_end(
        user=user,
        actor=user,
        reason="second factors changed",
        request=request,
        keep_session_key=keep,
    )


def totp_device_setup_start(*, request: HttpRequest, user: User) -> TOTPDevice:
    """Start enrolling an authenticator app: a new unconfirmed device replaces any abandoned one.

    An unconfirmed device verifies nothing (django-otp ignores it everywhere) until a code from
    the app confirms it.
    """
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    request.session[SETUP_DEVICE_SESSION_KEY] = device.pk
    return device


def totp_device_confirm(
    *,
    request: HttpRequest,
    user: User,
    device: TOTPDevice,
    token: str,
    sign_out_others: bool = False,
) -> CodeCheck:
    """Confirm an authenticator app with a code from it; it then replaces any previous app,
    but only in a signed-in session: a waiting sign-in attempt whose person has an app by now
    is refused (`STEP_NOT_DUE`) and nothing is deleted.

    On the first confirmation (no backup codes yet) ten backup codes are made and returned in
    clear, to be shown once. Confirming proves the factor, so the session counts as verified;
    when this enrolment was what a sign-in still needed, the sign-in completes here. With
    `sign_out_others`, every other session of the person ends too.
    """
    compact = _token_compact(token)
    with transaction.atomic():
        locked_device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device.pk, user=user, confirmed=False)
            .first()
        )
        check = _device_token_check(
            locked_device if TOTP_TOKEN_PATTERN.fullmatch(compact) else None, compact
        )
        if not check.verified:
            return check
        confirmed = TOTPDevice.objects.filter(user=user, confirmed=True)
        if not request.user.is_authenticated and confirmed.exists():
            # A waiting sign-in's enrolment never replaces an app: one confirmed since the
            # attempt began is the person's own (after an owner reset their factors, say).
            transaction.set_rollback(True)
            return CodeCheck(verified=False, reason=STEP_NOT_DUE)
        replaced = confirmed.delete()[0] > 0
        locked_device.confirmed = True
        locked_device.save(update_fields=["confirmed"])
        backup_codes = None
        if not BackupCodeDevice.objects.filter(user=user).exists():
            backup_device = BackupCodeDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME)
            backup_codes = backup_device.codes_replace()
        request.session.pop(SETUP_DEVICE_SESSION_KEY, None)
        audit_event_record(
            event=AuditEventType.MFA_ENROLLED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={
                "factor": "totp",
                "replaced": replaced,
                "backup_codes_issued": len(backup_codes or []),
            },
        )
        mail_enqueue(to=user.email, kind="authenticator_added", context={"replaced": replaced})
        if replaced:
            remembered_browsers_forget(
                user=user, actor=user, reason="factor replaced", request=request
            )
        if sign_out_others:
            other_sessions_end(request=request, user=user)
        next_step = second_factor_proved(
            request=request, device=locked_device, method="totp", step="enrol"
        )
    return CodeCheck(verified=True, backup_codes=backup_codes, next_step=next_step)


def totp_device_remove(*, request: HttpRequest, user: User, sign_out_others: bool = False) -> None:
    """Turn two-factor off: remove the authenticator app and the backup codes with it.

    Backup codes alone are not a factor to keep: they exist to stand in for a lost app.
    Refused while the tenant or role requires MFA (replace the app instead). With
    `sign_out_others`, every other session of the person ends.
    """
    if mfa_required_for(user=user):
        raise ValidationError(
            _(
                "Your organisation requires two-factor authentication, so your authenticator app "
                "can be replaced but not removed."
            ),
            code="mfa_required",
        )
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError(_("There is no authenticator app to remove."), code="no_factor")
        TOTPDevice.objects.filter(user=user).delete()
        codes_removed = BackupCodeDevice.objects.filter(user=user).delete()[0] > 0
        audit_event_record(
            event=AuditEventType.MFA_REMOVED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"factor": "totp", "backup_codes_removed": codes_removed},
        )
        mail_enqueue(to=user.email, kind="mfa_turned_off", context={})
        remembered_browsers_forget(user=user, actor=user, reason="factor removed", request=request)
        if sign_out_others:
            other_sessions_end(request=request, user=user)


def backup_codes_regenerate(
    *, request: HttpRequest, user: User, sign_out_others: bool = False
) -> list[str]:
    """A new set of ten backup codes; every code of the old set stops working at once. With
    `sign_out_others`, every other session of the person ends."""
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError(
                _("Set up an authenticator app first: backup codes stand in for it."),
                code="no_factor",
            )
        device = BackupCodeDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            device = BackupCodeDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME)
        codes = device.codes_replace()
        device.throttle_reset(commit=True)
        audit_event_record(
            event=AuditEventType.BACKUP_CODES_REGENERATED,
            actor=user,
            tenant=user.tenant,
            target=user,
            request=request,
            details={"codes": len(codes)},
        )
        mail_enqueue(to=user.email, kind="backup_codes_regenerated", context={})
        if sign_out_others:
            other_sessions_end(request=request, user=user)
    return codes


class FreshProofNeeded(ValidationError):
    """The acting person has not proved who they are in the last few minutes."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "Resetting two-factor authentication needs your password first: confirm it, then "
                "choose the action again."
            ),
            code="fresh_proof_needed",
        )


def factors_added_since_remove(*, user: User, since: datetime) -> dict:
    """Remove the second factors a person gained at or after `since`: what an intruder who
    signed in then may have enrolled. Returns `{"factors_removed": [...]}` naming them.

    Every kind of device counts (authenticator apps, passkeys, anything django-otp knows), by
    its creation time. A set of backup codes keeps its device when regenerated, so codes issued
    since then are found in the trail. Factors older than the sign-in stay: they are the
    person's own, and the intruder already passed them (or had none to pass). An enrolment that
    replaced the person's own app leaves no app at all afterwards: the person sets one up again
    after their password reset (at once when MFA is required), using a backup code first if
    they still have theirs.

    Called by `accounts.alerts.sign_in_report` inside its transaction, which records the event.
    """
    removed: list[str] = []
    for model in device_classes():
        if not any(field.name == "created_at" for field in model._meta.get_fields()):
            continue
        count, _by_model = model.objects.filter(user=user, created_at__gte=since).delete()
        if count:
            removed.append(model._meta.model_name)
    codes_issued_since = AuditEvent.objects.filter(
        target=user, event=AuditEventType.BACKUP_CODES_REGENERATED, created_at__gte=since
    ).exists()
    if codes_issued_since and BackupCodeDevice.objects.filter(user=user).delete()[0]:
        removed.append(BackupCodeDevice._meta.model_name)
    return {"factors_removed": sorted(removed)}


def mfa_factors_reset(*, target: User, actor: User, request: HttpRequest | None = None) -> bool:
    """An owner (scope `mfa:reset`) removes a person's second factors, within their own tenant.

    For a person who lost their phone and their backup codes. The person is mailed, their
    sessions end, and they enrol again at their next sign-in (at once if MFA is required).
    Returns False when the person had no factor, in which case nothing changes.

    The actor must have proved who they are in this session within MFA_FRESH_PROOF_MINUTES
    (their password, and their own second factor if they have one; `FreshProofNeeded`
    otherwise), whichever path calls this: the people admin's action, a
    recovery request's page or its admin. A stolen session cookie alone must not be enough to
    strip someone's factors. Without a request there is no session, so no proof either.
    """
    act_on(actor=actor, person=target, scope=scopes.MFA_RESET)
    if actor.pk == target.pk:
        raise ValidationError(
            _("Use your own two-factor page to change your own factors."), code="own_factors"
        )
    if request is None or not proof_is_fresh(request=request):
        raise FreshProofNeeded()
    with transaction.atomic():
        had_app = TOTPDevice.objects.filter(user=target, confirmed=True).exists()
        had_codes = BackupCodeDevice.objects.filter(user=target, confirmed=True).exists()
        passkeys = PasskeyDevice.objects.filter(user=target).delete()[0]
        if not (had_app or had_codes or passkeys):
            return False
        TOTPDevice.objects.filter(user=target).delete()
        BackupCodeDevice.objects.filter(user=target).delete()
        audit_event_record(
            event=AuditEventType.MFA_RESET,
            actor=actor,
            tenant=target.tenant,
            target=target,
            request=request,
            details={
                "authenticator_app": had_app,
                "backup_codes": had_codes,
                "passkeys": passkeys,
            },
        )
        mail_enqueue(to=target.email, kind="mfa_reset", context={"actor": actor})
        user_sessions_end(
            user=target, actor=actor, reason="mfa_reset", request=request, scope=scopes.MFA_RESET
        )
        remembered_browsers_forget(user=target, actor=actor, reason="mfa_reset", request=request)
    return True


def factor_proof_verify(*, request: HttpRequest, user: User, token: str) -> CodeCheck:
    """The signed-in person's second factor on the proof page: a code from their app or one of
    their backup codes, told apart by shape.

    Checked like the second sign-in step (the device row locked, a lockout slot taken first, a
    wrong code a `MFA_FAILED` toward the account lockout) but it signs nobody in: the caller
    records the proof. A backup code is used up and its use mailed, as at sign-in. Someone who
    must use a passkey, and has one, gets no code checked at all.
    """
    if not codes_accepted_for(user=user):
        return CodeCheck(verified=False, reason=PASSKEY_REQUIRED)
    outcome, _device, _method = _code_check(request=request, user=user, token=token)
    return outcome
