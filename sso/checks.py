"""System checks for the keys that encrypt single sign-on client secrets, and for the DNS
server domain verification asks."""

import ipaddress

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from sso.domain_verification import nameserver_from_setting


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


@register(Tags.security)
def dns_resolver_valid(app_configs, **kwargs) -> list:
    """Domain verification asks `DNS_RESOLVER`; one it can't use fails every lookup quietly,
    so say so at start instead."""
    try:
        nameserver = nameserver_from_setting(settings.DNS_RESOLVER)
        if nameserver is not None:
            ipaddress.ip_address(nameserver.host)
    except ValueError:
        return [
            Error(
                f"DNS_RESOLVER {settings.DNS_RESOLVER!r} is not an IP address with an optional "
                "port.",
                hint="For example 10.0.0.2, 10.0.0.2:53 or [::1]:53; empty for the system's "
                "resolvers.",
                id="sso.E002",
            )
        ]
    return []
