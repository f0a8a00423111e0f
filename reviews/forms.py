from django import forms
from django.utils.translation import gettext_lazy as _

BULK_ACTIONS = (
    ("deactivate", "Deactivate"),
    ("revoke_sessions", "Revoke all sessions"),
    ("require_password_change", "Require a new password at next sign-in"),
)


class AccessReviewFilterForm(forms.Form):
    SORTS = (
        ("email", "Email"),
        ("role", "Role"),
        ("last_sign_in", "Last sign-in (oldest first)"),
        ("sessions", "Active sessions (most first)"),
        ("password_age", "Password age (oldest first)"),
        ("flags", "Flags (most first)"),
    )
    FLAGS = (
        ("", "Everyone"),
        ("flagged", "Anyone flagged"),
        ("no_mfa_required", "No MFA where required"),
        ("no_mfa", "No MFA"),
        ("stale", "No sign-in for 30+ days"),
        ("many_sessions", "Many sessions"),
        ("failures", "Recent failures or unusual sign-ins"),
        ("locked", "Locked"),
        ("access_list_exception", "Exception to the IP access list"),
        ("inactive", "Deactivated"),
    )
    sort = forms.ChoiceField(choices=SORTS, required=False)
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
