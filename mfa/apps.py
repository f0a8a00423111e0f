from django.apps import AppConfig

# accounts.stages loads no models, so it can be imported before the app registry is ready.
from accounts.stages import sign_in_step_register


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "Multi-factor authentication"

    def ready(self) -> None:
        from mfa.services import sign_in_second_step_begin

        sign_in_step_register(sign_in_second_step_begin)
