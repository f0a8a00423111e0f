"""A software authenticator for tests of the server side: it answers WebAuthn options the way
a browser and a platform authenticator do (attestation "none", ES256 keys), and can be told to
lie: another origin or RP id, no user verification, a counter that goes backwards.

Pages are driven through the test client; the options are read from the page's json_script
block (or the sign-in options endpoint), the answer is posted as the form's `credential`.
"""

import hashlib
import json
import re
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.encode_cbor import encode_cbor

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


def options_on_page(html: str, block_id: str) -> dict:
    match = re.search(
        rf'<script id="{block_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no {block_id} on the page"
    return json.loads(match.group(1))


@dataclass
class Credential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str = ORIGIN
    rp_id: str = RP_ID
    user_verified: bool = True
    backed_up: bool = True
    counter_step: int = 1
    credentials: list[Credential] = field(default_factory=list)

    def _flags(self, *, attested: bool = False) -> int:
        flags = FLAG_UP | (FLAG_UV if self.user_verified else 0)
        flags |= FLAG_BE | (FLAG_BS if self.backed_up else 0)
        return flags | (FLAG_AT if attested else 0)

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict, *, credential_id: bytes | None = None) -> str:
        """Make a credential for the options of `navigator.credentials.create()` (with the
        given id: a forged registration of somebody else's credential)."""
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        cose_key = encode_cbor(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        credential = Credential(
            credential_id=credential_id or secrets.token_bytes(16),
            private_key=key,
            user_handle=base64url_to_bytes(options["user"]["id"]),
        )
        self.credentials.append(credential)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(attested=True)])
            + struct.pack(">I", credential.sign_count)
            + bytes(16)
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + cose_key
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return json.dumps(
            {
                "id": bytes_to_base64url(credential.credential_id),
                "rawId": bytes_to_base64url(credential.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(attestation),
                    "transports": ["internal", "hybrid"],
                },
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )

    def get(self, options: dict, credential: Credential | None = None) -> str:
        """Answer the options of `navigator.credentials.get()` with `credential` (by default
        the newest one this authenticator holds)."""
        credential = credential or self.credentials[-1]
        credential.sign_count += self.counter_step
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", max(credential.sign_count, 0))
        )
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": bytes_to_base64url(credential.credential_id),
                "rawId": bytes_to_base64url(credential.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                    "userHandle": bytes_to_base64url(credential.user_handle),
                },
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )


ADD = "/mfa/passkeys/add/"
PASSKEY_VERIFY = "/mfa/passkeys/verify/"
SIGN_IN_OPTIONS = "/mfa/passkeys/sign-in/options/"
SIGN_IN = "/mfa/passkeys/sign-in/"


def passkey_register(
    client: Client, authenticator: SoftAuthenticator, *, name: str = "Work laptop"
):
    """Open the add page in `client` (signed in, with a fresh password proof) and post what
    the authenticator makes. Returns the response to the post."""
    page = client.get(ADD)
    assert page.status_code == 200, page
    options = options_on_page(page.content.decode(), "passkey-registration-options")
    return client.post(ADD, {"name": name, "credential": authenticator.create(options)})


def second_step_options(client: Client) -> dict:
    page = client.get("/mfa/verify/")
    assert page.status_code == 200, page
    return options_on_page(page.content.decode(), "passkey-second-step-options")


def sign_in_options(client: Client) -> dict:
    response = client.post(SIGN_IN_OPTIONS)
    assert response.status_code == 200, response
    return response.json()
