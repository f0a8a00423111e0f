from django.db.models import QuerySet

from accounts.models import User
from support.models import RecoveryRequest
from teams import scopes
from teams.models import Tenant
from teams.selectors import people_holding_scope

# Holding either lets a person see and handle their tenant's recovery requests.
RECOVERY_SCOPES = (scopes.MFA_RESET, scopes.LOCKOUT_UNLOCK)


def recovery_handlers_for_tenant(*, tenant: Tenant) -> QuerySet[User]:
    """The tenant's active people who may reset factors or unlock: they handle recovery."""
    return people_holding_scope(tenant=tenant, scope_keys=frozenset(RECOVERY_SCOPES))


def recovery_queue_for(*, tenant: Tenant) -> QuerySet[RecoveryRequest]:
    return (
        RecoveryRequest.objects.for_tenant(tenant)
        .select_related("person", "person__role", "handled_by")
        .order_by("status", "-created_at", "-id")
    )
