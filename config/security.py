"""The Security page: a tenant's whole sign-in policy on one page, for its Owners.

The policy is teams' (saved through `teams.services.tenants.tenant_security_update`, audited as
TENANT_POLICY_CHANGED); the page also says where single sign-on (sso) and audit shipping
(audit) stand and links to where each is set up, which is why it sits in config, above them
all. The admin's Teams › Tenants page edits the same policy.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache

from audit.client import client_ip
from audit.delivery_words import delivery_status_html
from audit.models import AuditDelivery, AuditWebhook
from audit.selectors import delivery_for_webhook
from sso.models import IdentityProvider
from teams import scopes
from teams.access import scope_required
from teams.forms import SecurityPolicyForm
from teams.models import AccessListEntry, Tenant
from teams.proofs import fresh_proof_demand
from teams.services.access_list import access_list_change_excludes, access_list_exempts
from teams.services.tenants import tenant_security_update


@dataclass(frozen=True)
class AccessListState:
    """What the IP access list means for the person looking at it, right now."""

    enforced: bool
    entries: int
    address: str | None
    address_allowed: bool
    exempt_owner: bool


def access_list_state(*, tenant: Tenant, viewer, ip: str | None) -> AccessListState:
    """Whether the list is enforced, and whether the viewer's own address is allowed by it
    (asked as enforcement would ask it, switched on, the exemption left out) and whether they
    are the Owner it exempts: the truth the page tells before anyone saves."""
    allowed = not access_list_change_excludes(
        actor=viewer,
        ip=ip,
        change=lambda: Tenant.objects.filter(pk=tenant.pk).update(access_list_enabled=True),
    )
    return AccessListState(
        enforced=tenant.access_list_enabled,
        entries=AccessListEntry.objects.for_tenant(tenant).count(),
        address=ip,
        address_allowed=allowed,
        exempt_owner=access_list_exempts(actor=viewer),
    )


def _shipping(tenant: Tenant) -> dict:
    webhook = AuditWebhook.objects.for_tenant(tenant).first()
    syslog: SafeString | None = None
    if settings.AUDIT_SYSLOG_URL:
        syslog = delivery_status_html(
            AuditDelivery.objects.filter(
                destination=AuditDelivery.Destination.SYSLOG, chain_key=tenant.pk
            ).first()
        )
    return {
        "webhook": webhook,
        "webhook_status": delivery_status_html(delivery_for_webhook(webhook=webhook))
        if webhook
        else None,
        "syslog_status": syslog,
    }


@never_cache
@scope_required(scopes.SECURITY_WRITE, own_tenant=True)
def security(request: HttpRequest) -> HttpResponse:
    """Show and save the tenant's policy. Saving it is high-impact: a fresh proof first, as on
    the admin's tenant page."""
    demand = fresh_proof_demand(request, high_impact=True)
    if demand is not None:
        return demand
    tenant = Tenant.objects.get(pk=request.user.tenant_id)
    ip = client_ip(request)
    form = SecurityPolicyForm(request.POST or None, instance=tenant)
    form.actor, form.client_address = request.user, ip
    if request.method == "POST" and form.is_valid():
        values = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name not in ("access_list_enabled", "confirm_exclusion")
        }
        switch = (
            form.cleaned_data["access_list_enabled"]
            if "access_list_enabled" in form.changed_data
            else None
        )
        try:
            tenant_security_update(
                tenant=tenant,
                actor=request.user,
                values=values,
                access_list_enabled=switch,
                confirm_exclusion=bool(form.cleaned_data.get("confirm_exclusion")),
                request=request,
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            messages.success(request, gettext("The security settings were saved."))
            return redirect("security")
        tenant.refresh_from_db()
    return render(
        request,
        "teams/security.html",
        {
            "form": form,
            "tenant": tenant,
            "access_list": access_list_state(tenant=tenant, viewer=request.user, ip=ip),
            "provider": IdentityProvider.objects.for_tenant(tenant).first(),
            **_shipping(tenant),
        },
    )
