"""A tenant's provisioning settings: whether joiners are mailed, whether the directory may
make and change Owners (Owners choose them in the admin)."""

from django.db import transaction
from django.http import HttpRequest

from accounts.models import User
from audit.events import AuditEventType
from audit.services import audit_event_record
from provisioning.models import ProvisioningSettings
from teams import scopes
from teams.models import Tenant
from teams.rules import act_within


def provisioning_settings_for(*, tenant: Tenant) -> ProvisioningSettings:
    """The tenant's settings, or the defaults (nothing mailed, no Owners) when never saved."""
    found = ProvisioningSettings.objects.filter(tenant=tenant).first()
    return found or ProvisioningSettings(tenant=tenant)


def provisioning_settings_save(
    *,
    tenant: Tenant,
    actor: User,
    mail_joiners: bool,
    manage_owners: bool,
    request: HttpRequest | None = None,
) -> ProvisioningSettings:
    act_within(actor=actor, tenant=tenant, scope=scopes.SECURITY_WRITE)
    with transaction.atomic():
        current, _created = ProvisioningSettings.objects.select_for_update().get_or_create(
            tenant=tenant
        )
        changed = {}
        for field, value in (("mail_joiners", mail_joiners), ("manage_owners", manage_owners)):
            if getattr(current, field) != value:
                changed[field] = [getattr(current, field), value]
                setattr(current, field, value)
        if changed:
            current.save()
            audit_event_record(
                event=AuditEventType.PROVISIONING_SETTINGS_CHANGED,
                actor=actor,
                tenant=tenant,
                request=request,
                details={"changed": changed},
            )
    return current
