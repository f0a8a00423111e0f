from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from sso.domain_verification import domain_verification_refusal_check
from sso.models import KIND_FIELDS, DomainVerification, IdentityProvider, domain_normalize
from sso.services import provider_refusal_check

CLIENT_SECRET_MAX_LENGTH = 1000


class IdentityProviderForm(forms.ModelForm):
    """A tenant's provider. The client secret is write-only: typed once, stored encrypted and
    never shown again; typing a new one replaces it.

    Only the chosen kind's own fields count (`KIND_FIELDS`): the others' are emptied and not
    checked, so a Google domain typed before switching to Entra ID neither blocks the save nor
    stays behind. The page hides them with a script; without it they show under their kind's
    heading."""

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
        kind = cleaned.get("kind")
        if kind in KIND_FIELDS:
            for other, names in KIND_FIELDS.items():
                if other == kind:
                    continue
                for name in names:
                    self._errors.pop(name, None)
                    model_field = IdentityProvider._meta.get_field(name)
                    cleaned[name] = None if model_field.null else ""
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


class DomainVerificationForm(forms.ModelForm):
    """An owner's domain to verify: only its name; the record to publish comes after."""

    class Meta:
        model = DomainVerification
        fields = ["tenant", "domain"]
        help_texts = {
            "domain": _(
                "The part of your people's email addresses after the @, such as example.com. "
                "Next you publish a DNS TXT record to prove it is yours."
            )
        }

    def clean_domain(self) -> str:
        return domain_normalize(self.cleaned_data["domain"])

    def clean(self) -> dict:
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        if cleaned.get("domain") and tenant is not None:
            try:
                domain_verification_refusal_check(tenant=tenant, domain=cleaned["domain"])
            except ValidationError as refusal:
                self.add_error("domain", refusal)
        return cleaned


class SingleSignOnStartForm(forms.Form):
    """The sign-in page's email, sent with "Use single sign-on"."""

    username = forms.EmailField(
        max_length=254,
        error_messages={
            "required": _("Type your email first, then press “Use single sign-on”."),
            "invalid": _("Enter a whole email address, like name@example.com."),
        },
    )
