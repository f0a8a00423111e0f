from django import forms
from django.utils.translation import gettext_lazy as _

from mfa.forms import passkey_answer_field, sign_out_others_field
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


class PasskeyAddForm(forms.Form):
    name = passkey_name_field()
    credential = passkey_answer_field()
    sign_out_others = sign_out_others_field()


class PasskeyRenameForm(forms.Form):
    name = passkey_name_field()


class PasskeyAnswerForm(forms.Form):
    credential = passkey_answer_field()
