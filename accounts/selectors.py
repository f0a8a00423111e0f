from dataclasses import dataclass
from datetime import datetime

from django_otp import user_has_device

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from mfa.selectors import backup_codes_left_for_user


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
