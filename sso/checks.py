"""System checks for the keys that encrypt single sign-on client secrets."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def field_encryption_keys_valid(app_configs, **kwargs) -> list:
    errors = []
    for position, key in enumerate(settings.FIELD_ENCRYPTION_KEY, start=1):
        try:
            Fernet(key.strip().encode())
        except ValueError:
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY's key number {position} is not a Fernet key.",
                    hint="Make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="sso.E001",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def field_encryption_key_set(app_configs, **kwargs) -> list:
    if settings.FIELD_ENCRYPTION_KEY:
        return []
    return [
        Warning(
            "FIELD_ENCRYPTION_KEY is not set: single sign-on client secrets are encrypted with a "
            "key derived from SECRET_KEY, so rotating SECRET_KEY would make them unreadable.",
            hint="Set FIELD_ENCRYPTION_KEY to a Fernet key of its own (see docs/sso.md).",
            id="sso.W001",
        )
    ]
