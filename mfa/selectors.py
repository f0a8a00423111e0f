import enum
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django_otp import device_classes
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.attempt import (
    BACKUP_CODE,
    PASSKEY,
    PASSKEY_DOOR,
    PROVIDER_MFA,
    REMEMBERED_BROWSER,
    TOTP,
    SignInAttempt,
)
from accounts.models import User
from accounts.stages import DoorRefusal, FactorPolicy
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.models import BackupCodeDevice, PasskeyDevice

SETUP_DEVICE_SESSION_KEY = "mfa_setup_device"


class SignInStage(enum.Enum):
    """Where a session stands with its second factor."""

    ANONYMOUS = "anonymous"
    COMPLETE = "complete"
    SECOND_STEP_DUE = "second_step_due"
    ENROLMENT_DUE = "enrolment_due"


def mfa_required_for(*, user: User) -> bool:
    """A person must have a second factor when their tenant or their role says so.

    Operators (superusers, who belong to no tenant) always must: they act on every tenant, so
    nobody's policy may leave them on a password alone."""
    if user.is_superuser:
        return True
    tenant_requires = user.tenant is not None and user.tenant.require_mfa
    role_requires = user.role is not None and user.role.require_mfa
    return tenant_requires or role_requires


def phishing_resistant_required_for(*, user: User) -> bool:
    """A person must sign in with a passkey when their role says so; operators (superusers, no
    role) when OPERATORS_REQUIRE_PASSKEY is on."""
    if user.is_superuser:
        return settings.OPERATORS_REQUIRE_PASSKEY
    return user.role is not None and user.role.require_phishing_resistant


def passkeys_for_user(*, user: User) -> list[PasskeyDevice]:
    return list(PasskeyDevice.objects.filter(user=user, confirmed=True).order_by("created_at"))


def passkey_exists_for(*, user: User) -> bool:
    return PasskeyDevice.objects.filter(user=user, confirmed=True).exists()


def passkey_for_user_by_id(*, user: User, passkey_id: int) -> PasskeyDevice | None:
    """One of this person's own passkeys; anybody else's is the same None as a missing one."""
    return PasskeyDevice.objects.filter(user=user, confirmed=True, pk=passkey_id).first()


def confirmed_factor_exists(*, user) -> bool:
    """Has this person a confirmed second factor of any kind? django-otp's `user_has_device`
    asks each kind of device in turn; this is one query, a UNION ALL over them."""
    if not user.is_authenticated:
        return False
    queries = [
        model.objects.devices_for_user(user, confirmed=True).order_by().values_list("pk")
        for model in device_classes()
    ]
    if not queries:
        return False
    return bool(queries[0].union(*queries[1:], all=True)[:1])


# Every kind of proof that passes the second step, for someone not held to a passkey.
SECOND_STEP_KINDS = frozenset({TOTP, BACKUP_CODE, PASSKEY, REMEMBERED_BROWSER, PROVIDER_MFA})
PASSWORDLESS_OFF = "passwordless_off"


def sign_in_factor_policy(*, user: User) -> FactorPolicy:
    """`accounts.stages` factor policy: the one decision per sign-in attempt (taken again at
    each of its requests) about the person's second factors.

    Someone whose role requires a passkey passes the second step with their passkey and
    nothing else: not a code, not a remembered browser, not an identity provider's own
    multi-factor sign-in. Without a passkey yet they enrol one, after proving with a code the
    factor they already have (a remembered browser's cookie can be stolen, a provider's factor
    phished), so a password alone never adds a passkey to an account that has a factor. Anyone
    else passes it with any kind, and enrols an authenticator app when MFA is required and they
    have no factor, unless the provider's multi-factor sign-in, accepted by the tenant, stood
    for the second step. One query, two for someone who must use a passkey.
    """
    has_factor = confirmed_factor_exists(user=user)
    if phishing_resistant_required_for(user=user):
        has_passkey = has_factor and passkey_exists_for(user=user)
        return FactorPolicy(
            counts=frozenset({PASSKEY}) if has_passkey else frozenset({TOTP, BACKUP_CODE}),
            has_factor=has_factor,
            enrol=None if has_passkey else PASSKEY,
        )
    return FactorPolicy(
        counts=SECOND_STEP_KINDS,
        has_factor=has_factor,
        enrol=TOTP if not has_factor and mfa_required_for(user=user) else None,
    )


def second_step_due(*, user: User, attempt: SignInAttempt, policy: FactorPolicy) -> bool:
    """The attempt waits for a code (or passkey): the person has a factor, and the attempt has
    proved none of the kinds the policy counts."""
    return policy.has_factor and not policy.second_step_passed(attempt)


def enrolment_due(*, user: User, attempt: SignInAttempt, policy: FactorPolicy) -> bool:
    """The attempt waits for the person to enrol an authenticator app: not when the provider's
    multi-factor sign-in, accepted by the tenant, stood for the second step."""
    return policy.enrol == TOTP and not {TOTP, PROVIDER_MFA}.intersection(attempt.proved)


def passkey_enrolment_due(*, user: User, attempt: SignInAttempt, policy: FactorPolicy) -> bool:
    """The attempt waits for the person to register the passkey their role requires."""
    return policy.enrol == PASSKEY and PASSKEY not in attempt.proved


def passkey_door_refusal(*, attempt: SignInAttempt, user: User) -> DoorRefusal | None:
    """`accounts.stages` door rule: a passkey alone signs in only where the tenant allows it."""
    if attempt.door != PASSKEY_DOOR:
        return None
    if user.tenant is None or not user.tenant.passwordless_sign_in:
        return DoorRefusal(reason=PASSWORDLESS_OFF)
    return None


def codes_accepted_for(*, user: User) -> bool:
    """Whether an authenticator or backup code passes this person's second step: not once
    they must, and can, use a passkey."""
    return not (phishing_resistant_required_for(user=user) and passkey_exists_for(user=user))


def sign_in_stage(*, user) -> SignInStage:
    """Read from the database on every request, so a factor added elsewhere or a requirement
    switched on applies to sessions that are already open.

    `user` is `request.user` after django-otp's middleware: `is_verified()` is true once this
    session passed the second step (or confirmed a factor).
    """
    if not user.is_authenticated:
        return SignInStage.ANONYMOUS
    if user.is_verified():
        return SignInStage.COMPLETE
    if confirmed_factor_exists(user=user):
        return SignInStage.SECOND_STEP_DUE
    if mfa_required_for(user=user):
        return SignInStage.ENROLMENT_DUE
    return SignInStage.COMPLETE


def code_factor_exists(*, user: User) -> bool:
    """Has this person a factor that gives codes (an authenticator app or backup codes), and
    do codes count for them (`codes_accepted_for`)?"""
    return codes_accepted_for(user=user) and (
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or BackupCodeDevice.objects.filter(user=user, confirmed=True).exists()
    )


def totp_device_for_user(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_codes_left_for_user(*, user: User) -> int | None:
    """Unused backup codes, or None when the person has no set."""
    device = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    return device.codes_left() if device else None


@dataclass(frozen=True)
class MfaOverview:
    totp_device: TOTPDevice | None
    backup_codes_left: int | None
    required: bool
    passkeys: list[PasskeyDevice]
    passkey_required: bool


def mfa_overview_for_user(*, user: User) -> MfaOverview:
    return MfaOverview(
        totp_device=totp_device_for_user(user=user),
        backup_codes_left=backup_codes_left_for_user(user=user),
        required=mfa_required_for(user=user),
        passkeys=passkeys_for_user(user=user),
        passkey_required=phishing_resistant_required_for(user=user),
    )


def totp_issuer_for_user(*, user: User) -> str:
    """The name the authenticator app shows: the site, and the tenant when there is one.

    Colons separate issuer from account in the otpauth label, so none may appear in the issuer.
    """
    issuer = settings.MFA_ISSUER
    if user.tenant is not None:
        issuer = f"{issuer} ({user.tenant.name})"
    return issuer.replace(":", "")


def totp_secret_for_display(*, device: TOTPDevice) -> str:
    """The key in base32, grouped in fours for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_config_uri(*, device: TOTPDevice) -> str:
    """The otpauth:// URI of the Key URI Format that authenticator apps read from the QR code."""
    issuer = totp_issuer_for_user(user=device.user)
    label = quote(f"{issuer}:{device.user.email}")
    params = urlencode(
        {
            "secret": b32encode(device.bin_key).decode().rstrip("="),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{params}"


def totp_setup_device_for_request(*, request: HttpRequest, user: User) -> TOTPDevice | None:
    """The unconfirmed device this session is setting up, while it is recent enough to finish."""
    device_id = request.session.get(SETUP_DEVICE_SESSION_KEY)
    if not isinstance(device_id, int):
        return None
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    if device is None or device.created_at is None:
        return None
    if (timezone.now() - device.created_at).total_seconds() > settings.MFA_SETUP_MINUTES * 60:
        return None
    return device


@dataclass(frozen=True)
class SecurityStatus:
    mfa_enabled: bool
    previous_sign_in_at: datetime | None
    previous_sign_in_ip: str | None
    backup_codes_left: int | None = None


def security_status_for_user(*, user: User) -> SecurityStatus:
    """What the dashboard tells a person about their own account's security."""
    sign_ins = AuditEvent.objects.filter(
        target=user, event=AuditEventType.SIGN_IN_SUCCEEDED
    ).order_by("-created_at", "-id")
    # The newest sign-in is the one that started this session; the one before it is news.
    previous = sign_ins[1:2].first()
    return SecurityStatus(
        mfa_enabled=confirmed_factor_exists(user=user),
        previous_sign_in_at=previous.created_at if previous else None,
        previous_sign_in_ip=previous.ip if previous else None,
        backup_codes_left=backup_codes_left_for_user(user=user),
    )
