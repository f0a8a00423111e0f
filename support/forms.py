from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import EMAIL_VALIDATORS
from support.models import RecoveryRequest

RESOLVE_ACTIONS = (
    ("mfa_reset", _("Reset two-factor authentication")),
    ("unlock", _("Unlock")),
    ("reset_link", _("Send a password reset link")),
    ("decline", _("Decline")),
)
# What each action does, shown on the confirmation before it runs.
RESOLVE_EFFECTS = {
    "mfa_reset": _(
        "Their authenticator app and backup codes are removed and their sessions end. They "
        "sign in with their password and set up a new app."
    ),
    "unlock": _("The lock on their email ends now: they can try their password again."),
    "reset_link": _(
        "They are mailed a link to choose a new password. Their current password keeps "
        "working until they use it."
    ),
    "decline": _("Nothing changes on their account. They are mailed that you declined."),
}


class RecoveryRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email you sign in with"),
        max_length=254,
        validators=EMAIL_VALIDATORS,
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
    """An owner's action on a recovery request, asked twice: the first post shows what the
    action will do, the second (with `confirmed`) does it. `available` is the actions this
    owner may take on this person now (no "reset two-factor" for someone without a factor)."""

    action = forms.ChoiceField(
        choices=RESOLVE_ACTIONS,
        error_messages={
            "required": _("Choose what to do."),
            "invalid_choice": _("Choose one of the listed actions."),
        },
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    error_messages = {
        "unavailable": _("That action isn't available for this person now."),
    }

    def __init__(self, *args, available: frozenset[str], **kwargs):
        self.available = available
        super().__init__(*args, **kwargs)

    def clean_action(self) -> str:
        action = self.cleaned_data["action"]
        if action not in self.available:
            raise forms.ValidationError(self.error_messages["unavailable"], code="unavailable")
        return action
