from django.apps import AppConfig

from accounts.stages import home_realm_register, password_refusal_register


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from sso import checks  # noqa: F401 - registers the encryption key checks
        from sso.selectors import home_realm_of, password_refusal_for

        # accounts refuses a password sign-in (and reset mails) for people whose tenant
        # requires single sign-on, and its sign-in page offers the provider an email's
        # domain leads to; only this app knows either.
        password_refusal_register(password_refusal_for)
        home_realm_register(home_realm_of)
