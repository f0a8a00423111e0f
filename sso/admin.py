from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sso import client
from sso.connection import provider_connection_test
from sso.domain_verification import (
    RELEASE_AFTER_MISSING,
    domain_verification_check,
    domain_verification_remove,
    domain_verification_start,
)
from sso.forms import DomainVerificationForm, IdentityProviderForm
from sso.models import ClaimedDomain, DomainVerification, IdentityProvider, ProviderIdentity
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
# The last connection test's report, between the test's POST and the provider's page.
CONNECTION_TEST_SESSION_KEY = "sso_connection_test"


def _when(at) -> str:
    return render_to_string("time.html", {"at": at})


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
    change_form_template = "admin/sso/identityprovider/change_form.html"
    # Each kind's own fields under its heading; static/js/sso-provider.js shows only the chosen
    # kind's (every heading shows without the script, and sso.forms ignores the others').
    fieldsets = [
        (_("Provider"), {"fields": ["tenant", "kind", "enabled"]}),
        (
            _("Microsoft Entra ID"),
            {
                "fields": ["directory_id"],
                "classes": ["sso-kind", "sso-kind-entra"],
                "description": _("Only for Microsoft Entra ID."),
            },
        ),
        (
            _("Google Workspace"),
            {
                "fields": ["hosted_domain"],
                "classes": ["sso-kind", "sso-kind-google"],
                "description": _("Only for Google Workspace."),
            },
        ),
        (
            _("Other OpenID Connect provider"),
            {
                "fields": ["name", "discovery_url"],
                "classes": ["sso-kind", "sso-kind-oidc"],
                "description": _("Only for other OpenID Connect providers (Okta, Keycloak, …)."),
            },
        ),
        (
            _("App registration at the provider"),
            {
                "fields": [
                    "redirect_uri",
                    "backchannel_logout_uri",
                    "client_id",
                    "client_secret",
                    "secret_set_at",
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

    class Media:
        js = ["js/sso-provider.js"]

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
        return domains or format_html(
            '{} <a href="{}">{}</a>',
            gettext("None yet:"),
            reverse("admin:sso_domainverification_add", current_app=self.admin_site.name),
            gettext("verify a domain"),
        )

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

    # --- "Test the connection" on a saved provider's page

    def get_urls(self):
        view = self.admin_site.admin_view(self.connection_test_view)
        view.model_admin = self  # as Django's own admin views are marked
        return [
            path("<path:object_id>/test/", view, name="sso_identityprovider_test"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["connection_test_url"] = reverse(
                "admin:sso_identityprovider_test", args=[obj.pk], current_app=self.admin_site.name
            )
            tested = request.session.pop(CONNECTION_TEST_SESSION_KEY, None)
            if isinstance(tested, dict) and tested.get("provider") == obj.pk:
                context["connection_test"] = tested
        return super().render_change_form(request, context, add, change, form_url, obj)

    def connection_test_view(self, request, object_id) -> HttpResponse:
        """The provider page's "Test the connection" button: POST only (it makes the site
        fetch from the provider), for those who may change the provider. The report is shown
        on the provider's page it returns to."""
        provider = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        report = provider_connection_test(provider)
        request.session[CONNECTION_TEST_SESSION_KEY] = {
            "provider": provider.pk,
            "passed": report.passed,
            **report.as_dict(),
        }
        return redirect(
            reverse(
                "admin:sso_identityprovider_change",
                args=[provider.pk],
                current_app=self.admin_site.name,
            )
        )


@admin.register(DomainVerification)
class DomainVerificationAdmin(TenantScopedAdmin):
    """An owner's domains to verify by DNS: add one, publish the record shown, press "Check
    now" (or wait for the hourly check); remove one to take it off the list (releasing the
    claim its record made)."""

    form = DomainVerificationForm
    high_impact = True
    scope_permissions = {"view": SECURITY, "add": SECURITY, "delete": SECURITY}
    list_display = ["domain", "tenant", "status", "record_name", "last_checked"]
    list_filter = ["tenant"]
    search_fields = ["domain"]
    change_form_template = "admin/sso/domainverification/change_form.html"

    def get_queryset(self, request):
        claims = ClaimedDomain.objects.filter(domain=OuterRef("domain"))
        return (
            super()
            .get_queryset(request)
            .select_related("tenant", "claim")
            .annotate(
                claimed_here=Exists(claims.filter(tenant=OuterRef("tenant"))),
                claimed_elsewhere=Exists(claims.exclude(tenant=OuterRef("tenant"))),
            )
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = ["tenant", "domain"]
        else:
            fields = ["tenant", "domain", "status", "record_name", "record_value", "last_checked"]
        return [name for name in fields if not self._hides(request, name)]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["tenant", "domain", "status", "record_name", "record_value", "last_checked"]

    @admin.display(description=_("status"))
    def status(self, verification: DomainVerification):
        if verification.claim_id is not None and verification.missing_since is not None:
            return format_html(
                '<span class="badge badge-warn">{}</span> {}',
                gettext("Verified, record missing"),
                format_html(
                    gettext("Not found since {}: the domain is released {} unless it is back."),
                    _when(verification.missing_since),
                    _when(verification.missing_since + RELEASE_AFTER_MISSING),
                ),
            )
        if verification.claim_id is not None:
            return format_html(
                '<span class="badge badge-ok">{}</span> {}',
                gettext("Verified"),
                gettext("Claimed for your organisation. Keep the record published."),
            )
        if verification.claimed_here:
            return format_html(
                '<span class="badge badge-ok">{}</span> {}',
                gettext("Claimed"),
                gettext("Claimed for your organisation by the platform's operators."),
            )
        if verification.claimed_elsewhere:
            return format_html(
                '<span class="badge badge-danger">{}</span> {}',
                gettext("Claimed elsewhere"),
                gettext(
                    "Another organisation on this site has claimed this domain. If it is "
                    "yours, ask the platform's operators."
                ),
            )
        if verification.outcome:
            last = format_html(gettext("Last check: {}."), verification.get_outcome_display())
        else:
            last = gettext("Not checked yet.")
        return format_html(
            '<span class="badge">{}</span> {}', gettext("Waiting for the record"), last
        )

    @admin.display(description=_("TXT record name"))
    def record_name(self, verification: DomainVerification):
        return format_html("<code>{}</code>", verification.record_name)

    @admin.display(description=_("TXT record value"))
    def record_value(self, verification: DomainVerification):
        return format_html("<code>{}</code>", verification.record_value)

    @admin.display(description=_("last checked"), ordering="checked_at")
    def last_checked(self, verification: DomainVerification):
        if verification.checked_at is None:
            return gettext("never")
        return format_html("{}", _when(verification.checked_at))

    def has_change_permission(self, request, obj=None) -> bool:
        """Nothing of a verification is edited: its page shows the record and "Check now"."""
        return False

    def has_check_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "add")

    def save_model(self, request, obj, form, change) -> None:
        verification = domain_verification_start(
            tenant=obj.tenant, domain=obj.domain, actor=request.user, request=request
        )
        obj.pk = verification.pk

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        """Straight on to the new domain's page: the record to publish is the next step."""
        self.message_user(
            request,
            gettext("Now publish the TXT record below at your DNS host, then press “Check now”."),
        )
        return HttpResponseRedirect(
            reverse(
                "admin:sso_domainverification_change",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        )

    def delete_model(self, request, obj) -> None:
        domain_verification_remove(verification=obj, actor=request.user, request=request)

    def get_urls(self):
        view = self.admin_site.admin_view(self.check_view)
        view.model_admin = self  # as Django's own admin views are marked
        return [
            path("<path:object_id>/check/", view, name="sso_domainverification_check"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.has_check_permission(request):
            context["check_url"] = reverse(
                "admin:sso_domainverification_check",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def check_view(self, request, object_id) -> HttpResponse:
        """The domain page's "Check now": POST only, through the same service as the job."""
        verification = self.get_object(request, unquote(object_id))
        if not self.has_check_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        verification = domain_verification_check(
            verification=verification, actor=request.user, request=request
        )
        self.message_user(request, self._check_message(verification))
        return redirect(
            reverse(
                "admin:sso_domainverification_change",
                args=[verification.pk],
                current_app=self.admin_site.name,
            )
        )

    @staticmethod
    def _check_message(verification: DomainVerification) -> str:
        outcome = verification.outcome
        if (
            verification.claim_id is None
            and ClaimedDomain.objects.filter(
                domain=verification.domain, tenant_id=verification.tenant_id
            ).exists()
        ):
            return gettext("%(domain)s is already claimed for your organisation.") % {
                "domain": verification.domain
            }
        if verification.claim_id is not None and outcome == DomainVerification.Outcome.FOUND:
            return gettext(
                "The record was found: %(domain)s is verified and claimed for your organisation."
            ) % {"domain": verification.domain}
        if outcome == DomainVerification.Outcome.CLAIMED_ELSEWHERE:
            return gettext(
                "%(domain)s is already claimed by another organisation on this site, so it "
                "can't be verified for yours. If the domain is yours, ask the platform's "
                "operators."
            ) % {"domain": verification.domain}
        if (
            verification.claim_id is not None
            and outcome != DomainVerification.Outcome.LOOKUP_FAILED
        ):
            return gettext(
                "The record is missing. %(domain)s stays claimed for a week, then is released "
                "unless the record is back."
            ) % {"domain": verification.domain}
        if outcome == DomainVerification.Outcome.NOT_FOUND:
            return gettext(
                "No TXT record named %(name)s was found yet. New records can take a while to "
                "appear; this site checks again every hour."
            ) % {"name": verification.record_name}
        if outcome == DomainVerification.Outcome.WRONG_VALUE:
            return gettext(
                "TXT records named %(name)s were found, but none holds the value shown here. "
                "Check for a typing slip or quotes around the value."
            ) % {"name": verification.record_name}
        if outcome == DomainVerification.Outcome.LOOKUP_FAILED:
            return gettext(
                "The DNS lookup failed (no answer in time). Try again in a minute; this site "
                "checks again every hour."
            )
        return gettext("%(domain)s is already claimed for your organisation.") % {
            "domain": verification.domain
        }


@admin.register(ClaimedDomain)
class ClaimedDomainAdmin(TenantScopedAdmin):
    """Email domains and the tenant each signs in through. Owners see their own (claimed by
    verifying a DNS record, under "Domains to verify"); platform operators claim one directly
    with a note, or release one."""

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
