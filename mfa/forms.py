import math

from django import forms
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.forms import PASSWORD_MAX_LENGTH
from mfa.passkeys.ceremonies import ANSWER_MAX_LENGTH
from mfa.services import LOCKED, PASSKEY_REQUIRED, THROTTLED, CodeCheck

TOKEN_MAX_LENGTH = 64


class CodeInput(forms.TextInput):
    """A box for a one-time code. It never shows a code back: a refused code is no use to
    retype, and a used one must not sit in the page."""

    def format_value(self, value) -> None:
        return None


def otp_token_field(*, label: str, help_text: str, numeric: bool = True) -> forms.CharField:
    """The code box. `numeric` brings up the digit keypad on phones (authenticator codes);
    backup codes have letters, so their box is a plain text box."""
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=TOKEN_MAX_LENGTH,
        error_messages={
            "required": _("Enter the code."),
            "max_length": _("That is longer than any code. Enter just the code."),
        },
        widget=CodeInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
                "maxlength": TOKEN_MAX_LENGTH,
                **({"inputmode": "numeric"} if numeric else {}),
            }
        ),
    )


def sign_out_others_field() -> forms.BooleanField:
    """Offered wherever a factor is added, removed or renewed: whoever else holds a session
    may be why the person is changing it (ASVS 5.0 V7.4.3)."""
    return forms.BooleanField(
        required=False,
        initial=True,
        label=_("Sign out my other sessions"),
        help_text=_("Every other browser signed in to your account is signed out; this one stays."),
    )


def passkey_answer_field() -> forms.CharField:
    """What the browser answered, put in a hidden field by static/js/passkeys.js."""
    return forms.CharField(
        max_length=ANSWER_MAX_LENGTH,
        widget=forms.HiddenInput,
        error_messages={
            "required": _(
                "Your browser didn't answer. Use the passkey button, and follow your browser's "
                "prompts; JavaScript must be on."
            ),
            "max_length": _("That is not a passkey's answer."),
        },
    )


class SignOutOthersForm(forms.Form):
    """The one choice a factor's removal asks for."""

    sign_out_others = sign_out_others_field()


class CodeForm(forms.Form):
    """A code from an authenticator app (or a backup code); refusals come from a service."""

    error_messages = {
        "wrong": _(
            "That code didn't work. Type the code your app shows now; if codes keep "
            "failing, check your phone's clock (see below)."
        ),
        "throttled": _("Too many wrong codes in a row. Wait %(wait)s, then try again."),
        "locked": _(
            "This account is locked after too many failed attempts. Try again later, or "
            "ask your MSP's owner for help."
        ),
        "passkey_required": _(
            "Your organisation requires a passkey to sign in: codes no longer work for your "
            "account. Use your passkey above."
        ),
    }

    def refusal_add(self, check: CodeCheck) -> None:
        params = {}
        if check.reason == THROTTLED:
            wait = (check.retry_at - timezone.now()).total_seconds() if check.retry_at else 1
            seconds = max(1, math.ceil(wait))
            params["wait"] = ngettext("%(count)d second", "%(count)d seconds", seconds) % {
                "count": seconds
            }
        message = self.error_messages.get(check.reason, self.error_messages["wrong"])
        field = None if check.reason in (LOCKED, PASSKEY_REQUIRED) else "otp_token"
        self.add_error(field, ValidationError(message, code=check.reason, params=params))


class SecondStepForm(CodeForm):
    """The second sign-in step. Either kind of code is accepted in either box; the box only
    changes its label and the phone keypad it asks for."""

    otp_token = otp_token_field(
        label=_("Code from your app"),
        help_text=_("The 6-digit code your authenticator app shows now."),
    )
    remember = forms.BooleanField(required=False)

    def __init__(self, *args, remember_days: int = 0, **kwargs):
        """`remember_days` is the tenant's "remember this browser" setting; 0 offers nothing."""
        super().__init__(*args, **kwargs)
        if remember_days > 0:
            self.fields["remember"].label = ngettext(
                "Don't ask for a code on this browser for %(days)d day",
                "Don't ask for a code on this browser for %(days)d days",
                remember_days,
            ) % {"days": remember_days}
            self.fields["remember"].help_text = _(
                "Only on a browser nobody else uses. Your password is still asked every time; "
                "you can forget this browser on your sessions page."
            )
        else:
            del self.fields["remember"]


class SecondStepBackupForm(SecondStepForm):
    """The second step with a box for a backup code (letters, so no digit keypad)."""

    otp_token = otp_token_field(
        label=_("Backup code"),
        help_text=_("One of the ten codes you saved, like abcde-fghij. Each works once."),
        numeric=False,
    )


class ReauthenticateForm(CodeForm):
    """The proof page: the current password, and for a person with a second factor that factor
    too: a code (from their app, or a backup code) or their passkey's answer, put in the hidden
    `credential` by static/js/passkeys.js. The factor is checked by a service, and only once
    the password is right."""

    error_messages = {
        **CodeForm.error_messages,
        "wrong_password": _("That password is not right. Type your current password."),
        "passkey_failed": _(
            "That passkey didn't work. Type your password and try again, or use a code."
        ),
    }

    password = forms.CharField(
        label=_("Current password"),
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        error_messages={"required": _("Enter your current password.")},
        widget=forms.PasswordInput(
            attrs={
                "autocomplete": "current-password",
                "autofocus": True,
                "maxlength": PASSWORD_MAX_LENGTH,
            }
        ),
    )
    otp_token = otp_token_field(
        label=_("Code from your app, or a backup code"),
        help_text=_(
            "The 6-digit code your authenticator app shows now, or one of your backup codes."
        ),
        numeric=False,
    )
    credential = passkey_answer_field()

    def __init__(
        self, *args, request: HttpRequest, code_asked: bool, passkey_offered: bool, **kwargs
    ):
        """`code_asked`: the person has a second factor whose codes count; `passkey_offered`:
        they have a passkey. With both, either one will do."""
        self.request = request
        super().__init__(*args, **kwargs)
        self.fields["otp_token"].widget.attrs.pop("autofocus", None)
        if not code_asked:
            del self.fields["otp_token"]
        elif passkey_offered:
            self.fields["otp_token"].required = False
        if not passkey_offered:
            del self.fields["credential"]
        elif code_asked:
            self.fields["credential"].required = False

    def clean(self) -> dict:
        cleaned = super().clean()
        either = "otp_token" in self.fields and "credential" in self.fields
        if either and not (cleaned.get("otp_token") or cleaned.get("credential")):
            self.add_error(
                "otp_token",
                ValidationError(
                    self.fields["otp_token"].error_messages["required"], code="required"
                ),
            )
        return cleaned

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        # authenticate() signals a failure like any wrong password, so it is audited and counted.
        user = authenticate(self.request, username=self.request.user.email, password=password)
        if user is None or user.pk != self.request.user.pk:
            raise ValidationError(self.error_messages["wrong_password"], code="wrong_password")
        return password
