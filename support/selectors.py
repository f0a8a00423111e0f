from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from accounts import lockout_counters
from accounts.models import User
from mfa.selectors import mfa_overview_for_user
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


@dataclass(frozen=True)
class RecoveryPersonState:
    """What an owner needs to see before acting on a recovery request."""

    has_second_factor: bool
    mfa_required: bool
    locked_until: datetime | None


def recovery_person_state(*, person: User) -> RecoveryPersonState:
    overview = mfa_overview_for_user(user=person)
    lock = lockout_counters.lock_for(email=person.email, ip=None)
    return RecoveryPersonState(
        has_second_factor=overview.totp_device is not None,
        mfa_required=overview.required,
        locked_until=lock.ends_at if lock else None,
    )


def recovery_requests_waiting(*, viewer: User) -> QuerySet[RecoveryRequest]:
    """The open recovery requests `viewer` may see: their tenant's, or every tenant's for an
    operator."""
    return RecoveryRequest.objects.visible_to(viewer).open()
