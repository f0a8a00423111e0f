from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from sso.models import IdentityProvider
from sso.services import provider_refusal_check

CLIENT_SECRET_MAX_LENGTH = 1000


class IdentityProviderForm(forms.ModelForm):
    """A tenant's provider. The client secret is write-only: typed once, stored encrypted and
    never shown again; typing a new one replaces it."""

    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        max_length=CLIENT_SECRET_MAX_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "Stored encrypted and never shown again. Leave empty to keep the current secret; "
            "type a new one to replace it (before the old one expires at the provider)."
        ),
    )

    discovery_url = IdentityProvider._meta.get_field("discovery_url").formfield(
        assume_scheme="https"
    )

    class Meta:
        model = IdentityProvider
        fields = [
            "tenant",
            "kind",
            "name",
            "directory_id",
            "hosted_domain",
            "discovery_url",
            "client_id",
            "client_secret",
            "enabled",
            "policy",
            "provider_mfa_accepted",
            "session_max_age_minutes",
            "new_person_role",
            "break_glass",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("client_secret"):
            self.add_error("client_secret", _("Enter the client secret."))
        return cleaned

    def _post_clean(self) -> None:
        # After the model's own validation, the instance holds the new values to check.
        super()._post_clean()
        if self.errors or self.instance.tenant_id is None:
            return
        try:
            provider_refusal_check(
                provider=self.instance,
                break_glass=list(self.cleaned_data.get("break_glass") or []),
                actor=self.actor,
            )
        except ValidationError as refusal:
            self.add_error(None, refusal)


class SingleSignOnStartForm(forms.Form):
    """The sign-in page's email, sent with "Use single sign-on"."""

    username = forms.EmailField(
        max_length=254,
        error_messages={
            "required": _("Type your email first, then press “Use single sign-on”."),
            "invalid": _("Enter a whole email address, like name@example.com."),
        },
    )
