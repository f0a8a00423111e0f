from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from support.models import RecoveryRequest
from teams.models import Role, Tenant

# Holding either lets a person see and handle their tenant's recovery requests.
RECOVERY_SCOPES = ("mfa:reset", "lockout:unlock")


def recovery_handlers_for_tenant(*, tenant: Tenant) -> QuerySet[User]:
    """The tenant's active people who may reset factors or unlock: they handle recovery."""
    roles = [
        role.pk for role in Role.objects.for_tenant(tenant) if role.scope_set & set(RECOVERY_SCOPES)
    ]
    return User.objects.for_tenant(tenant).filter(role__in=roles, is_active=True)


def recovery_queue_for(*, viewer: User) -> QuerySet[RecoveryRequest]:
    return (
        RecoveryRequest.objects.for_tenant(viewer.tenant)
        .select_related("person", "person__role", "handled_by")
        .order_by("status", "-created_at", "-id")
    )


def recovery_request_for(*, viewer: User, request_id: int) -> RecoveryRequest:
    """One of the viewer's tenant's requests; another tenant's is the same 404 as a missing one."""
    if viewer.tenant_id is None:
        raise Http404("No such request.")
    recovery = recovery_queue_for(viewer=viewer).filter(pk=request_id).first()
    if recovery is None:
        raise Http404("No such request.")
    return recovery
