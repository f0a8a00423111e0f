from axes import apps as axes_apps
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from accounts.stages import SignInStep, password_sign_in_refusal, sign_in_step_register


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts import checks, receivers  # noqa: F401 - registers the checks, the receiver
        from accounts.gates import sign_in_gates_register
        from accounts.selectors import new_password_due_for
        from teams.services.people import sign_in_instead_register

        sign_in_gates_register()
        # After any second factor: choosing a password is no proof of identity.
        sign_in_step_register(
            SignInStep(
                key="new_password",
                order=20,
                url_name="accounts:password_change",
                is_due=lambda *, user, attempt, policy: new_password_due_for(user),
            )
        )
        # Invitations (mailed by teams) say how to sign in when a password is refused.
        sign_in_instead_register(password_sign_in_refusal)


class LockoutConfig(axes_apps.AppConfig):
    """django-axes, which keeps the lockout's counters (accounts/lockout_counters.py), under
    the name operators know it by: the admin's index reads "Lockout", not the library's name.

    axes' class is reached through its module: a second AppConfig class in this module's
    namespace would stop Django picking AccountsConfig for "accounts" (and its ready())."""

    default = False
    verbose_name = _("Lockout")

    def ready(self) -> None:
        super().ready()
        # The same renaming for its one listed model: axes' catalogue has no Spanish, ours does.
        counters = self.get_model("AccessAttempt")._meta
        counters.verbose_name = _("lock counter")
        counters.verbose_name_plural = _("lock counters")
