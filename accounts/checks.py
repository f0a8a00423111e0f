"""System checks for the password rules."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def breached_password_check_on(app_configs, **kwargs) -> list:
    if settings.BREACHED_PASSWORDS_URL:
        return []
    return [
        Warning(
            "BREACHED_PASSWORDS_URL is not set: new passwords are compared only with the bundled "
            "list of common passwords, not with those published in data breaches.",
            hint="Set BREACHED_PASSWORDS_URL to https://api.pwnedpasswords.com/range/ or a "
            "mirror of your own (see docs/credentials.md).",
            id="accounts.W001",
        )
    ]
