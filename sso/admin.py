from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from sso import client
from sso.forms import IdentityProviderForm
from sso.models import ClaimedDomain, IdentityProvider, ProviderIdentity
from sso.services import (
    domain_claim,
    domain_release,
    identity_unlink,
    provider_remove,
    provider_save,
)
from teams import scopes
from teams.models import is_operator
from teams.sites import TenantScopedAdmin

SECURITY = frozenset({scopes.SECURITY_WRITE})


@admin.register(IdentityProvider)
class IdentityProviderAdmin(TenantScopedAdmin):
    """A tenant's single sign-on provider and policy, for its Owners (`security:write`)."""

    form = IdentityProviderForm
    high_impact = True
    # One provider per tenant: a one-to-one field, which the mixin doesn't look for itself.
    tenant_path = "tenant"
    scope_permissions = {"view": SECURITY, "add": SECURITY, "change": SECURITY, "delete": SECURITY}
    list_display = ["__str__", "tenant", "kind", "policy", "enabled", "secret_set_at"]
    list_select_related = ["tenant"]
    list_filter = ["tenant"]
    readonly_fields = ["redirect_uri", "backchannel_logout_uri", "secret_set_at", "claimed_domains"]
    filter_horizontal = ["break_glass"]
    fieldsets = [
        (
            _("Provider"),
            {
                "fields": [
                    "tenant",
                    "kind",
                    "name",
                    "directory_id",
                    "hosted_domain",
                    "discovery_url",
                    "redirect_uri",
                    "backchannel_logout_uri",
                    "client_id",
                    "client_secret",
                    "secret_set_at",
                    "enabled",
                ]
            },
        ),
        (
            _("Policy"),
            {
                "fields": [
                    "policy",
                    "break_glass",
                    "provider_mfa_accepted",
                    "session_max_age_minutes",
                    "new_person_role",
                    "claimed_domains",
                ]
            },
        ),
    ]

    @admin.display(description=_("redirect URI to register at the provider"))
    def redirect_uri(self, provider: IdentityProvider | None = None) -> str:
        return format_html("<code>{}</code>", client.redirect_uri())

    @admin.display(description=_("back-channel logout URI to register at the provider"))
    def backchannel_logout_uri(self, provider: IdentityProvider | None = None) -> str:
        if provider is None or provider.pk is None:
            return _("Shown once the provider is saved.")
        return format_html(
            "<code>{}</code><br>{}",
            client.backchannel_logout_uri(provider),
            _(
                "Providers that support OpenID Connect back-channel logout (Okta, Keycloak, "
                "authentik) post here when someone signs out there or is disabled: their "
                "sessions here end at once."
            ),
        )

    @admin.display(description=_("email domains that sign in here"))
    def claimed_domains(self, provider: IdentityProvider) -> str:
        if provider.pk is None:
            return "—"
        domains = ", ".join(d.domain for d in provider.tenant.claimed_domains.all())
        return domains or _("None yet: ask the platform's operators to claim your domain.")

    def has_add_permission(self, request) -> bool:
        if not super().has_add_permission(request):
            return False
        return (
            is_operator(request.user)
            or not IdentityProvider.objects.filter(tenant_id=request.user.tenant_id).exists()
        )

    def save_model(self, request, obj, form, change) -> None:
        provider_save(
            provider=obj,
            client_secret=form.cleaned_data.get("client_secret") or "",
            break_glass=form.cleaned_data.get("break_glass") or [],
            actor=request.user,
            request=request,
        )

    def save_related(self, request, form, formsets, change) -> None:
        """`provider_save` has set the break-glass people with the rest, audited."""

    def delete_model(self, request, obj) -> None:
        provider_remove(provider=obj, actor=request.user, request=request)


@admin.register(ClaimedDomain)
class ClaimedDomainAdmin(TenantScopedAdmin):
    """Email domains and the tenant each signs in through. Owners see their own; only
    platform operators claim or release a domain."""

    high_impact = True
    scope_permissions = {"view": SECURITY}
    list_display = ["domain", "tenant", "note", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["domain"]
    fields = ["tenant", "domain", "note"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        claimed = domain_claim(
            tenant=obj.tenant, domain=obj.domain, note=obj.note, actor=request.user
        )
        obj.pk = claimed.pk

    def delete_model(self, request, obj) -> None:
        domain_release(claimed=obj, actor=request.user)


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(TenantScopedAdmin):
    """Which provider account each person is. Unlinking one makes the next sign-in link by
    verified email again."""

    scope_permissions = {"view": SECURITY, "delete": SECURITY}
    list_display = ["user", "subject", "issuer", "linked_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__email", "subject"]
    readonly_fields = ["user", "issuer", "subject", "email_at_link", "linked_at", "last_used_at"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        identity_unlink(identity=obj, actor=request.user, request=request)
