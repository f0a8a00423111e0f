from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.client import client_ip, user_agent
from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import Tenant

CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def escape_control_characters(value: Any) -> Any:
    """Make control characters visible, so a logged value cannot forge lines or terminal codes."""
    if isinstance(value, str):
        return value.translate(CONTROL_CHARACTERS)
    if isinstance(value, dict):
        return {
            escape_control_characters(str(key)): escape_control_characters(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [escape_control_characters(item) for item in value]
    return value


def audit_event_record(
    *,
    event: AuditEventType,
    actor,
    tenant: Tenant | None,
    target=None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one audit event: the only way anything is written to the audit log.

    `actor` is the person who acted (None for the system or an anonymous visitor), `target` the
    person acted upon. Callers pass no secrets in `details`: never a password, code or token.
    """
    actor = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        return AuditEvent.objects.create(
            tenant=tenant,
            event=event,
            created_at=timezone.now(),
            actor=actor,
            actor_label=escape_control_characters(actor.email if actor else ""),
            target=target,
            target_label=escape_control_characters(target.email if target else ""),
            ip=client_ip(request) if request is not None else None,
            user_agent=escape_control_characters(user_agent(request)) if request else "",
            details=escape_control_characters(details or {}),
        )
