from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django_otp import user_has_device

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.selectors import backup_codes_left_for_user
from teams.models import Role, Tenant

UNLOCK_SCOPE = "lockout:unlock"


@dataclass(frozen=True)
class SecurityStatus:
    mfa_enabled: bool
    previous_sign_in_at: datetime | None
    previous_sign_in_ip: str | None
    backup_codes_left: int | None = None


def security_status_for_user(*, user: User) -> SecurityStatus:
    """What the dashboard tells a person about their own account's security."""
    sign_ins = AuditEvent.objects.filter(
        target=user, event=AuditEventType.SIGN_IN_SUCCEEDED
    ).order_by("-created_at", "-id")
    # The newest sign-in is the one that started this session; the one before it is news.
    previous = sign_ins[1:2].first()
    return SecurityStatus(
        mfa_enabled=user_has_device(user, confirmed=True),
        previous_sign_in_at=previous.created_at if previous else None,
        previous_sign_in_ip=previous.ip if previous else None,
        backup_codes_left=backup_codes_left_for_user(user=user),
    )


def unlock_contact_for_tenant(*, tenant: Tenant | None, exclude: User | None = None) -> User | None:
    """Who a person of this tenant should ask to be unlocked: its first active person whose role
    may unlock (normally the Owner who set the tenant up)."""
    if tenant is None:
        return None
    roles = [role.pk for role in Role.objects.for_tenant(tenant) if UNLOCK_SCOPE in role.scope_set]
    people = User.objects.for_tenant(tenant).filter(role__in=roles, is_active=True)
    if exclude is not None:
        people = people.exclude(pk=exclude.pk)
    return people.order_by("date_joined", "pk").first()


def password_change_reason(*, user: User) -> str | None:
    """Why this person must choose a new password before anything else, if they must:
    "required" (set on their account) or "expired" (older than their tenant allows)."""
    if user.password_change_required:
        return "required"
    tenant = user.tenant
    if tenant is None or not tenant.password_max_age_days or not user.has_usable_password():
        return None
    changed_at = user.password_changed_at or user.date_joined
    if timezone.now() - changed_at > timedelta(days=tenant.password_max_age_days):
        return "expired"
    return None
