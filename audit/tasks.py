from celery import shared_task

from audit import checkpoints, partitions, services, shipping
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
        services.audit_retention_apply(tenant=tenant)


@shared_task(ignore_result=True)
def ship_audit_events() -> None:
    """Every minute, and after each commit that recorded events: send the audit log on to the
    syslog receiver and tenants' webhooks (audit/shipping.py)."""
    shipping.deliveries_ship()


@shared_task(ignore_result=True)
def checkpoint_audit_chains() -> None:
    """Hourly: check each chain since its last checkpoint, sign a new one, alert on a break."""
    checkpoints.audit_chains_checkpoint()


@shared_task(ignore_result=True)
def maintain_audit_months() -> None:
    """Daily, on PostgreSQL: make the months ahead, drop those no chain needs any more."""
    partitions.audit_months_ensure()
    partitions.audit_months_remove()
