from django import forms
from django.utils.translation import gettext_lazy as _

from support.models import RecoveryRequest

RESOLVE_ACTIONS = (
    ("mfa_reset", "Reset two-factor authentication"),
    ("unlock", "Unlock"),
    ("reset_link", "Send a password reset link"),
    ("decline", "Decline"),
)


class RecoveryRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email you sign in with"),
        max_length=254,
        error_messages={
            "required": _("Type the email address you sign in with."),
            "invalid": _("That doesn't look like an email address."),
        },
    )
    reason = forms.ChoiceField(
        label=_("What is wrong?"),
        choices=RecoveryRequest.Reason.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose what is wrong."),
            "invalid_choice": _("Choose one of the listed reasons."),
        },
    )
    note = forms.CharField(
        label=_("Anything your owner should know (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": _("Keep the note under %(limit_value)d characters.")},
    )


class RecoveryResolveForm(forms.Form):
    action = forms.ChoiceField(
        choices=RESOLVE_ACTIONS,
        error_messages={
            "required": _("Choose what to do."),
            "invalid_choice": _("Choose one of the listed actions."),
        },
    )
