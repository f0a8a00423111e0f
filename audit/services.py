import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
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


class AuditRow(NamedTuple):
    """One event of a bulk write: the tenant, the person it is about, and what to say."""

    tenant_id: int | None
    target_id: int | None
    target_label: str
    details: dict[str, Any]


def audit_events_record_many(*, event: AuditEventType, actor, rows: Iterable[AuditRow]) -> int:
    """Record one event per row in one statement, for jobs that act on many people at once.

    The bulk form of `audit_event_record`, with the same rules, for commands and beat tasks that
    end thousands of sessions or accounts: no request (so no IP or user agent), one actor and
    one time for all rows. Returns how many events were written.

    The rows travel to the database as one JSON document that the INSERT reads as a table, so
    100,000 events cost one statement and no model instances (on Postgres and SQLite; other
    databases use `bulk_create`).
    """
    actor = actor if getattr(actor, "is_authenticated", False) else None
    actor_label = escape_control_characters(actor.email if actor else "")
    now = timezone.now()
    payload = [
        {
            "tenant_id": row.tenant_id,
            "target_id": row.target_id,
            "target_label": escape_control_characters(row.target_label),
            "details": escape_control_characters(row.details),
        }
        for row in rows
    ]
    if not payload:
        return 0
    with transaction.atomic():
        if connection.vendor in BULK_INSERT_FROM_JSON:
            with connection.cursor() as cursor:
                cursor.execute(
                    BULK_INSERT_FROM_JSON[connection.vendor],
                    [
                        int(event),
                        connection.ops.adapt_datetimefield_value(now),
                        actor.pk if actor else None,
                        actor_label,
                        json.dumps(payload, cls=DjangoJSONEncoder),
                    ],
                )
        else:
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    event=event, created_at=now, actor=actor, actor_label=actor_label, **fields
                )
                for fields in payload
            )
    return len(payload)


# The same INSERT per database: the columns of AuditEvent, filled from a JSON array of rows.
BULK_INSERT_FROM_JSON = {
    "postgresql": (
        "INSERT INTO audit_auditevent (tenant_id, event, created_at, actor_id, actor_label, "
        "target_id, target_label, ip, user_agent, details) "
        "SELECT r.tenant_id, %s, %s, %s, %s, r.target_id, r.target_label, NULL, '', r.details "
        "FROM jsonb_to_recordset(%s::jsonb) "
        "AS r(tenant_id bigint, target_id bigint, target_label text, details jsonb)"
    ),
    "sqlite": (
        "INSERT INTO audit_auditevent (tenant_id, event, created_at, actor_id, actor_label, "
        "target_id, target_label, ip, user_agent, details) "
        "SELECT json_extract(value, '$.tenant_id'), %s, %s, %s, %s, "
        "json_extract(value, '$.target_id'), json_extract(value, '$.target_label'), NULL, '', "
        "json_extract(value, '$.details') FROM json_each(%s)"
    ),
}
