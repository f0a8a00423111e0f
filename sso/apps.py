from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from accounts.stages import door_rule_register, home_realm_register, password_refusal_register


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = _("Single sign-on")

    def ready(self) -> None:
        from sso import (
            checks,  # noqa: F401 - registers the encryption key checks
            receivers,  # noqa: F401 - keeps the tenant's single sign-on flag
        )
        from sso.selectors import door_refusal_for, home_realm_of, password_refusal_for

        # accounts shuts the password and passkey-alone doors (and reset mails) for people
        # whose tenant requires single sign-on, and its sign-in page offers the provider an
        # email's domain leads to; only this app knows either. After mfa's passkey rule.
        door_rule_register(door_refusal_for, order=20)
        password_refusal_register(password_refusal_for)
        home_realm_register(home_realm_of)
