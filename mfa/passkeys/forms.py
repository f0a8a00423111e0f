from django import forms
from django.utils.translation import gettext_lazy as _

from mfa.passkeys.ceremonies import ANSWER_MAX_LENGTH
from mfa.passkeys.services import PASSKEY_NAME_MAX_LENGTH


def passkey_name_field() -> forms.CharField:
    return forms.CharField(
        label=_("Name"),
        help_text=_("So you can tell your passkeys apart, e.g. “Work laptop” or “My phone”."),
        max_length=PASSKEY_NAME_MAX_LENGTH,
        error_messages={
            "required": _("Give this passkey a name."),
            "max_length": _("Keep the name to %(limit_value)d characters or fewer."),
        },
        widget=forms.TextInput(attrs={"maxlength": PASSKEY_NAME_MAX_LENGTH, "autofocus": True}),
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


class PasskeyAddForm(forms.Form):
    name = passkey_name_field()
    credential = passkey_answer_field()


class PasskeyRenameForm(forms.Form):
    name = passkey_name_field()


class PasskeyAnswerForm(forms.Form):
    credential = passkey_answer_field()
