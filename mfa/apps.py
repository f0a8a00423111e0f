from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# accounts.stages loads no models, so it can be imported before the app registry is ready.
from accounts.stages import (
    SignInStep,
    door_rule_register,
    factor_policy_register,
    sign_in_step_register,
)

PASSKEY_ENROL_STEP = "passkey_enrol"


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = _("Multi-factor authentication")

    def ready(self) -> None:
        from accounts.alerts import sign_in_report_undo_register
        from mfa.selectors import (
            enrolment_due,
            passkey_door_refusal,
            passkey_enrolment_due,
            second_step_due,
            sign_in_factor_policy,
        )
        from mfa.services import factors_added_since_remove, remembered_browser_proof

        sign_in_report_undo_register(factors_added_since_remove)
        factor_policy_register(sign_in_factor_policy)
        # Before single sign-on's rule: a tenant without passkey sign-in says so first.
        door_rule_register(passkey_door_refusal, order=10)

        # Both come first, before a required new password (accounts), and never together.
        # Only the second step can be passed by a remembered browser; enrolment never is.
        sign_in_step_register(
            SignInStep(
                key="verify",
                order=10,
                url_name="mfa:verify",
                is_due=second_step_due,
                proof_found=remembered_browser_proof,
                also_allowed=frozenset({"mfa:passkey-verify"}),
            )
        )
        sign_in_step_register(
            SignInStep(
                key="enrol",
                order=10,
                url_name="mfa:totp-setup",
                is_due=enrolment_due,
                enrols=True,
                also_allowed=frozenset({"mfa:reauthenticate"}),
            )
        )
        # After the second step (a person with an authenticator app proves it first), before a
        # required new password.
        sign_in_step_register(
            SignInStep(
                key=PASSKEY_ENROL_STEP,
                order=15,
                url_name="mfa:passkey-add",
                is_due=passkey_enrolment_due,
                enrols=True,
            )
        )
