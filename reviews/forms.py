from django import forms
from django.utils.translation import gettext_lazy as _

from teams import scopes

BULK_ACTIONS = (
    ("deactivate", _("Deactivate")),
    ("revoke_sessions", _("Revoke all sessions")),
    ("require_password_change", _("Require a new password at next sign-in")),
    ("unlock", _("Unlock")),
    ("reset_mfa", _("Reset two-factor")),
)
# The actions that need a scope besides the review's own to be offered at all.
ACTION_SCOPES = {
    "deactivate": scopes.MEMBERS_DEACTIVATE,
    "revoke_sessions": scopes.SESSIONS_REVOKE,
    "require_password_change": scopes.MEMBERS_WRITE,
    "unlock": scopes.LOCKOUT_UNLOCK,
    "reset_mfa": scopes.MFA_RESET,
}


class AccessReviewFilterForm(forms.Form):
    SORTS = (
        ("email", _("Email")),
        ("role", _("Role")),
        ("last_sign_in", _("Last sign-in (oldest first)")),
        ("sessions", _("Active sessions (most first)")),
        ("password_age", _("Password age (oldest first)")),
        ("flags", _("Flags (most first)")),
    )
    FLAGS = (
        ("", _("Everyone")),
        ("flagged", _("Anyone flagged")),
        ("no_mfa_required", _("No MFA where required")),
        ("no_mfa", _("No MFA")),
        ("stale", _("No sign-in for 30+ days")),
        ("many_sessions", _("Many sessions")),
        ("failures", _("Recent failures or unusual sign-ins")),
        ("locked", _("Locked")),
        ("access_list_exception", _("Exception to the IP access list")),
        ("inactive", _("Deactivated")),
    )
    sort = forms.ChoiceField(choices=SORTS, required=False, label=_("Sort"))
    flag = forms.ChoiceField(choices=FLAGS, required=False, label=_("Show"))
    role = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=BULK_ACTIONS,
        error_messages={
            "required": _("Choose an action."),
            "invalid_choice": _("Choose one of the listed actions."),
        },
    )
    people = forms.TypedMultipleChoiceField(
        coerce=int,
        error_messages={
            "required": _("Tick at least one person."),
            "invalid_choice": _("One of the people ticked is not in your tenant."),
        },
    )
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args, person_choices: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["people"].choices = person_choices
