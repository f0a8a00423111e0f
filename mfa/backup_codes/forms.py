from django import forms
from django.utils.translation import gettext_lazy as _

from mfa.forms import sign_out_others_field


class BackupCodesRegenerateForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand my old backup codes stop working"),
        error_messages={
            "required": _("Tick the box to confirm: a new set replaces every old code at once.")
        },
    )
    sign_out_others = sign_out_others_field()
