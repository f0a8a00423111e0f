"""Secrets kept in the database (a provider's client secret), encrypted with Fernet.

The keys are `FIELD_ENCRYPTION_KEY` (comma-separated): the first encrypts, every one decrypts
(`MultiFernet`), so keys rotate by putting a new one first and re-encrypting
(`manage.py sso_secrets_reencrypt`) before the old one is dropped. Without it, one key is
derived from SECRET_KEY, which is fine for a local run and tests; production sets its own, so
that rotating SECRET_KEY doesn't make the stored secrets unreadable.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DERIVED_KEY_CONTEXT = b"portcullis.field-encryption.v1:"


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys decrypts."""


def _keys() -> list[bytes]:
    configured = [key.strip() for key in settings.FIELD_ENCRYPTION_KEY if key.strip()]
    if configured:
        return [key.encode() for key in configured]
    digest = hashlib.sha256(DERIVED_KEY_CONTEXT + settings.SECRET_KEY.encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a key that is not a Fernet key (32 bytes, url-safe "
            "base64; make one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        ) from error


def secret_encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable from error


def secret_reencrypt(token: str) -> str:
    """The same secret under the first key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable from error
