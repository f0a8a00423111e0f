from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from accounts.models import EMAIL_VALIDATORS
from accounts.proofs import secret_check

PASSWORD_MAX_LENGTH = 4096


class SignInForm(AuthenticationForm):
    """Email and password. A wrong password, an unknown email and a deactivated account all get
    the same message, so the form never tells who has an account."""

    error_messages = {
        "invalid_login": _(
            "That email and password don't match an active account. Check both and try again."
        ),
        "inactive": _(
            "That email and password don't match an active account. Check both and try again."
        ),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Email")
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autocomplete": "username webauthn", "autofocus": True, "maxlength": 254}
        )
        self.fields["password"].max_length = PASSWORD_MAX_LENGTH
        self.fields["password"].widget.attrs["maxlength"] = PASSWORD_MAX_LENGTH


def _limit_password_fields(form: forms.Form, *names: str) -> None:
    """Long passphrases are welcome; megabytes of input to hash are not."""
    for name in names:
        form.fields[name].max_length = PASSWORD_MAX_LENGTH
        form.fields[name].widget.attrs["maxlength"] = PASSWORD_MAX_LENGTH
        form.fields[name].validators.append(MaxLengthValidator(PASSWORD_MAX_LENGTH))


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        validators=EMAIL_VALIDATORS,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
        error_messages={
            "required": _("Enter the email address you sign in with."),
            "invalid": _("Enter a whole email address, like name@example.com."),
        },
    )


class NewPasswordForm(auth_forms.SetPasswordForm):
    """A new password, typed twice, checked by every validator (length, common passwords,
    context words, the tenant's history).

    The policy's refusals sit under the new password (Django puts them under the second box),
    and a mismatch adds its own message under the second box without hiding them. A new
    password the policy accepted is kept in its box when only the second box differs, so the
    person retypes one box, not both (the page is never cached: `never_cache`)."""

    error_messages = {
        "password_mismatch": _("The two passwords don't match. Type the same password in both."),
    }

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = _("New password")
        self.fields["new_password2"].label = _("New password again")
        self.fields["new_password2"].help_text = ""
        _limit_password_fields(self, "new_password1", "new_password2")

    def clean(self) -> dict:
        # The mismatch first: a refused password leaves cleaned_data, and both are reported.
        self.validate_passwords("new_password1", "new_password2")
        self.validate_password_for_user(self.user, "new_password1")
        if "new_password1" not in self.errors:
            self.fields["new_password1"].widget.render_value = True
        return self.cleaned_data


class PasswordChangeForm(NewPasswordForm):
    """The current password, then a new one. Wrong current passwords count toward the sign-in
    lockout, so this form can't be used to guess a password either."""

    error_messages = {
        **NewPasswordForm.error_messages,
        "password_incorrect": _("That isn't your current password. Type it again."),
        "locked": _(
            "Too many wrong passwords: try again in %(minutes)s minutes, or use "
            "“Forgot password?” from the sign-in page."
        ),
    }

    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    field_order = ["old_password", "new_password1", "new_password2"]

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)
        _limit_password_fields(self, "old_password")

    @sensitive_variables("old_password")
    def clean_old_password(self) -> str:
        """The current password is a secret like any other: it takes a lockout slot before it is
        checked, so parallel guesses here check no more than the lockout allows."""
        old_password = self.cleaned_data["old_password"]
        check = secret_check(
            request=self.request,
            email=self.user.email,
            check=lambda: self.user.check_password(old_password),
            notice_on_refusal=False,
        )
        if check.refused_by is not None:
            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": check.refused_by.minutes_left()},
            )
        if not check.ok:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
