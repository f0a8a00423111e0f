"""The server side of the two WebAuthn ceremonies, on py_webauthn.

Registration makes a passkey; authentication proves one. Each ceremony starts with options that
carry a fresh random challenge, kept in this session under the ceremony's purpose, and ends with
the browser's answer, checked here: the challenge (taken out of the session on first use, so an
answer is never accepted twice, and only within PASSKEY_CHALLENGE_SECONDS), the relying-party id
and origin (both from SITE_URL, never from the request), user presence, user verification where
required, and the signature. What the answer claims is only believed after those checks.
"""

import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.options_to_json_dict import options_to_json_dict
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

REGISTER = "register"
SECOND_STEP = "second_step"
SIGN_IN = "sign_in"
PURPOSES = (REGISTER, SECOND_STEP, SIGN_IN)
CHALLENGE_SESSION_KEY = "mfa_passkey_challenge_{purpose}"
CHALLENGE_BYTES = 32
# A browser's answer is a few kilobytes; anything far larger is not one.
ANSWER_MAX_LENGTH = 64 * 1024


class PasskeyRefused(Exception):
    """The browser's answer proves nothing. `reason` says why, for the audit trail; people are
    told only that the passkey did not work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    user_handle: str
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True)
class ProvedPasskey:
    credential_id: str
    challenge: str
    sign_count: int
    backup_eligible: bool
    backed_up: bool
    user_verified: bool


def relying_party_id() -> str:
    """The host of SITE_URL: a passkey made here works only on this site's address."""
    return urlsplit(settings.SITE_URL).hostname or ""


def expected_origin() -> str:
    parts = urlsplit(settings.SITE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _challenge_issue(request: HttpRequest, purpose: str, user_id: int | None, **kept: str) -> bytes:
    """A new challenge for `purpose`, kept in the session with whatever else the answer must
    be checked against (`kept`), so nothing of it is taken from the browser."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    request.session[CHALLENGE_SESSION_KEY.format(purpose=purpose)] = {
        **kept,
        "challenge": bytes_to_base64url(challenge),
        "issued_at": time.time(),
        "user_id": user_id,
    }
    return challenge


def _challenge_take(request: HttpRequest, purpose: str, user_id: int | None) -> dict:
    """What this session was given for `purpose`, removed whatever the outcome: a challenge is
    good for one answer. Its `challenge` is in bytes."""
    stored = request.session.pop(CHALLENGE_SESSION_KEY.format(purpose=purpose), None)
    if not isinstance(stored, dict) or not isinstance(stored.get("challenge"), str):
        raise PasskeyRefused("no_challenge")
    age = time.time() - float(stored.get("issued_at") or 0)
    if not 0 <= age <= settings.PASSKEY_CHALLENGE_SECONDS:
        raise PasskeyRefused("challenge_expired")
    if stored.get("user_id") != user_id:
        raise PasskeyRefused("challenge_for_someone_else")
    return {**stored, "challenge": base64url_to_bytes(stored["challenge"])}


def challenge_discard(*, request: HttpRequest, purpose: str) -> None:
    """Spend this session's challenge for `purpose` on an answer refused before it was checked."""
    request.session.pop(CHALLENGE_SESSION_KEY.format(purpose=purpose), None)


def _answer_parse(answer: str) -> dict:
    if len(answer) > ANSWER_MAX_LENGTH:
        raise PasskeyRefused("malformed")
    try:
        parsed = json.loads(answer)
    except ValueError as error:
        raise PasskeyRefused("malformed") from error
    if not isinstance(parsed, dict):
        raise PasskeyRefused("malformed")
    return parsed


def registration_options(
    *,
    request: HttpRequest,
    user_id: int,
    user_handle: str,
    user_name: str,
    display_name: str,
    exclude_credential_ids: list[str],
) -> dict:
    """Options for `navigator.credentials.create()` in their JSON form, with a new challenge.

    The passkey must be discoverable (so it can sign in without an email typed) and verify its
    holder (a fingerprint, face or PIN), so it can stand for the password where the tenant
    allows that. Passkeys the person already has are excluded: the authenticator says so
    instead of making a second one.
    """
    options = generate_registration_options(
        rp_id=relying_party_id(),
        rp_name=settings.MFA_ISSUER,
        user_id=base64url_to_bytes(user_handle),
        user_name=user_name,
        user_display_name=display_name,
        challenge=_challenge_issue(request, REGISTER, user_id, user_handle=user_handle),
        timeout=settings.PASSKEY_CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
            for credential_id in exclude_credential_ids
        ],
    )
    return options_to_json_dict(options)


def registration_verify(*, request: HttpRequest, user_id: int, answer: str) -> NewPasskey:
    """Check the answer to `registration_options`; the passkey it makes, or `PasskeyRefused`."""
    issued = _challenge_take(request, REGISTER, user_id)
    credential = _answer_parse(answer)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=issued["challenge"],
            expected_rp_id=relying_party_id(),
            expected_origin=expected_origin(),
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, InvalidCBORData) as error:
        raise PasskeyRefused(_reason_of(error)) from error
    except (KeyError, TypeError, ValueError) as error:
        raise PasskeyRefused("malformed") from error
    transports = credential.get("response", {}).get("transports") or []
    known_transports = {transport.value for transport in AuthenticatorTransport}
    return NewPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        user_handle=issued["user_handle"],
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=[t for t in transports if isinstance(t, str) and t in known_transports],
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


def authentication_options(
    *,
    request: HttpRequest,
    purpose: str,
    user_id: int | None,
    allow_credential_ids: list[str],
) -> dict:
    """Options for `navigator.credentials.get()` in their JSON form, with a new challenge.

    For the second step the person's own passkeys are listed and verification is preferred
    (the password was the other factor). For a sign-in without password nothing is listed (the
    browser offers the site's discoverable passkeys) and verification is required.
    """
    options = generate_authentication_options(
        rp_id=relying_party_id(),
        challenge=_challenge_issue(request, purpose, user_id),
        timeout=settings.PASSKEY_CHALLENGE_SECONDS * 1000,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
            for credential_id in allow_credential_ids
        ],
        user_verification=UserVerificationRequirement.REQUIRED
        if purpose == SIGN_IN
        else UserVerificationRequirement.PREFERRED,
    )
    return options_to_json_dict(options)


def authentication_answer_parse(answer: str) -> AuthenticationCredential:
    """The browser's answer, read but not yet believed: which credential it names."""
    try:
        return parse_authentication_credential_json(_answer_parse(answer))
    except (InvalidJSONStructure, InvalidAuthenticationResponse, KeyError, TypeError) as error:
        raise PasskeyRefused("malformed") from error
    except ValueError as error:
        raise PasskeyRefused("malformed") from error


def authentication_verify(
    *,
    request: HttpRequest,
    purpose: str,
    user_id: int | None,
    credential: AuthenticationCredential,
    public_key: bytes,
) -> ProvedPasskey:
    """Check an answer to `authentication_options` against the stored public key.

    The counter is compared by the caller, who holds the stored count under a row lock:
    py_webauthn is given 0 so that a signature check and a counter check fail apart, and a
    counter that did not advance is flagged rather than taken for a bad signature.
    """
    issued = _challenge_take(request, purpose, user_id)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=issued["challenge"],
            expected_rp_id=relying_party_id(),
            expected_origin=expected_origin(),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=purpose == SIGN_IN,
        )
    except (InvalidAuthenticationResponse, InvalidJSONStructure, InvalidCBORData) as error:
        raise PasskeyRefused(_reason_of(error)) from error
    except (KeyError, TypeError, ValueError) as error:
        raise PasskeyRefused("malformed") from error
    return ProvedPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        challenge=bytes_to_base64url(issued["challenge"]),
        sign_count=verified.new_sign_count,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def counter_went_backwards(*, stored: int, reported: int) -> bool:
    """WebAuthn L2 §6.1.1: a counter that does not advance may mean a cloned authenticator.
    Authenticators that keep no counter (synced passkeys) report 0 every time, which is fine."""
    return (stored > 0 or reported > 0) and reported <= stored


def _reason_of(error: Exception) -> str:
    """A short, stable reason for the audit trail from py_webauthn's message."""
    message = str(error).lower()
    for needle, reason in (
        ("challenge", "wrong_challenge"),
        ("origin", "wrong_origin"),
        ("rp id", "wrong_rp_id"),
        ("user verification", "user_not_verified"),
        ("not verified", "user_not_verified"),
        ("not present", "user_not_present"),
        ("signature", "bad_signature"),
        ("type", "wrong_type"),
    ):
        if needle in message:
            return reason
    return "invalid"
