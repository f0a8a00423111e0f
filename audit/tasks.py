from celery import shared_task

from audit.services import audit_retention_apply
from teams.models import Tenant


@shared_task(ignore_result=True)
def apply_audit_retention() -> None:
    """Daily: remove each tenant's audit events older than its retention period."""
    for tenant_id in Tenant.objects.filter(audit_retention_months__isnull=False).values_list(
        "pk", flat=True
    ):
        apply_audit_retention_for_tenant.delay(tenant_id)


@shared_task(ignore_result=True)
def apply_audit_retention_for_tenant(tenant_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        audit_retention_apply(tenant=tenant)
