import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.chain import GENESIS_HASH, chain_key, event_hash
from audit.client import USER_AGENT_MAX_LENGTH, client_ip, user_agent
from audit.events import AuditEventType
from audit.models import AuditChain, AuditEvent
from teams.models import Tenant

CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
LABEL_MAX_LENGTH = AuditEvent._meta.get_field("actor_label").max_length
BULK_BATCH_SIZE = 1000


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


@dataclass(frozen=True)
class AuditEventSpec:
    """One event for `audit_events_record_bulk`: the arguments of `audit_event_record`."""

    event: AuditEventType
    tenant: Tenant | None
    actor: Any = None
    target: Any = None
    request: HttpRequest | None = None
    details: dict[str, Any] | None = None


def chain_lock(*, tenant_id: int | None) -> tuple[int, str]:
    """Lock a chain's head row, creating it on first use; return its length and head hash.

    One statement both creates and locks: `ON CONFLICT DO UPDATE` waits for a writer holding
    the row and then returns the row as that writer committed it, so the next link is always
    made to the true head, never to a stale one. The lock is held until the caller's
    transaction ends.
    """
    table = connection.ops.quote_name(AuditChain._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, tenant_id, length, head_hash, checkpoint_sequence, "  # noqa: S608 - names are ours
            "checkpoint_hash, checkpoint_signature) VALUES (%s, %s, 0, %s, 0, '', '') "
            f"ON CONFLICT (key) DO UPDATE SET length = {table}.length "
            "RETURNING length, head_hash",
            [chain_key(tenant_id), tenant_id, GENESIS_HASH],
        )
        length, head_hash = cursor.fetchone()
    return length, head_hash


def _user_or_none(user) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _event_build(
    *,
    spec: AuditEventSpec,
    sequence: int,
    previous_hash: str,
) -> AuditEvent:
    actor = _user_or_none(spec.actor)
    target = spec.target
    request = spec.request
    event = AuditEvent(
        tenant=spec.tenant,
        event=spec.event,
        created_at=timezone.now(),
        actor=actor,
        actor_label=escape_control_characters(actor.email if actor else "")[:LABEL_MAX_LENGTH],
        target=target,
        target_label=escape_control_characters(target.email if target else "")[:LABEL_MAX_LENGTH],
        ip=client_ip(request) if request is not None else None,
        user_agent=(
            escape_control_characters(user_agent(request))[:USER_AGENT_MAX_LENGTH]
            if request is not None
            else ""
        ),
        details=escape_control_characters(spec.details or {}),
        sequence=sequence,
    )
    event.hash = event_hash(
        previous_hash=previous_hash,
        tenant_id=event.tenant_id,
        sequence=sequence,
        event=int(event.event),
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        target_id=event.target_id,
        target_label=event.target_label,
        ip=event.ip,
        user_agent=event.user_agent,
        details=event.details,
    )
    return event


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

    The event joins the caller's transaction without a savepoint, so it commits or rolls back
    with the change it describes, and if it can't be written the change fails too. It costs two
    queries: locking the chain's head (which returns the previous hash) and the insert (a
    trigger moves the head). The head stays locked until the caller's transaction ends, so
    keep long work out of a transaction after recording.
    """
    spec = AuditEventSpec(
        event=event, tenant=tenant, actor=actor, target=target, request=request, details=details
    )
    with transaction.atomic(savepoint=False):
        length, head_hash = chain_lock(tenant_id=spec.tenant.pk if spec.tenant else None)
        record = _event_build(spec=spec, sequence=length + 1, previous_hash=head_hash)
        record.save(force_insert=True)
    return record


def audit_events_record_bulk(
    specs: Sequence[AuditEventSpec], *, batch_size: int = BULK_BATCH_SIZE
) -> int:
    """Record many events at once (say, 100,000 expired sessions), keeping every chain intact.

    All of it happens in one transaction with the caller's change. Chains are locked in a fixed
    order, so two bulk writers can't deadlock each other; each chain then costs one query for
    its lock and one insert per `batch_size` events. Returns how many events were recorded.
    """
    by_chain: dict[int, list[AuditEventSpec]] = {}
    for spec in specs:
        by_chain.setdefault(chain_key(spec.tenant.pk if spec.tenant else None), []).append(spec)
    with transaction.atomic(savepoint=False):
        for key in sorted(by_chain):
            chain_specs = by_chain[key]
            tenant = chain_specs[0].tenant
            length, previous_hash = chain_lock(tenant_id=tenant.pk if tenant else None)
            for start in range(0, len(chain_specs), batch_size):
                batch = []
                for offset, spec in enumerate(chain_specs[start : start + batch_size]):
                    record = _event_build(
                        spec=spec,
                        sequence=length + start + offset + 1,
                        previous_hash=previous_hash,
                    )
                    previous_hash = record.hash
                    batch.append(record)
                AuditEvent.objects.bulk_create(batch)
    return sum(len(chain_specs) for chain_specs in by_chain.values())


RETENTION_BATCH_SIZE = 50_000
RETENTION_SETTING = "portcullis.audit_retention"
CHECKPOINT_SALT = "audit.checkpoint"


def months_before(moment: datetime, months: int) -> datetime | None:
    """The same day and time `months` calendar months earlier (the month's last day if the
    day doesn't exist then); None when that is before year 1."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    if year < 1:
        return None
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def checkpoint_signature(*, key: int, sequence: int, hash: str) -> str:
    """A checkpoint signed with the SECRET_KEY: rows in the database alone can't forge one."""
    return signing.Signer(salt=CHECKPOINT_SALT).sign(f"{key}:{sequence}:{hash}")


def _events_remove(*, tenant_id: int, up_to_sequence: int) -> int:
    """Delete a tenant's events up to a sequence: the one deletion the trigger lets through."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, 'on', true)", [RETENTION_SETTING])
        cursor.execute(
            f"DELETE FROM {table} WHERE tenant_id = %s AND sequence <= %s",  # noqa: S608 - ours
            [tenant_id, up_to_sequence],
        )
        removed = cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, 'off', true)", [RETENTION_SETTING])
    return removed


def audit_retention_apply(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Remove a tenant's events older than its `audit_retention_months`; return how many.

    The oldest events go first, in batches of one transaction each, so the chain always starts
    at a checkpoint: the sequence and hash of the last removed event, signed with the
    SECRET_KEY, from which `verify_audit_log` checks the rest. Events from the first one at or
    after the cutoff onwards are all kept. One AUDIT_RETENTION_APPLIED event records the run.
    """
    if not tenant.audit_retention_months:
        return 0
    cutoff = months_before(now or timezone.now(), tenant.audit_retention_months)
    if cutoff is None:
        return 0
    first_kept = (
        AuditEvent.objects.for_tenant(tenant)
        .filter(created_at__gte=cutoff)
        .order_by("created_at", "id")
        .values_list("sequence", flat=True)
        .first()
    )
    if first_kept is None:
        # Everything is old: remove up to today's end of the chain, not what arrives meanwhile.
        chain = AuditChain.objects.filter(key=chain_key(tenant.pk)).first()
        last_old = chain.length if chain else 0
    else:
        last_old = first_kept - 1
    removed_total = 0
    while True:
        with transaction.atomic():
            chain_lock(tenant_id=tenant.pk)
            chain = AuditChain.objects.get(key=chain_key(tenant.pk))
            up_to = min(last_old, chain.checkpoint_sequence + RETENTION_BATCH_SIZE)
            if up_to <= chain.checkpoint_sequence:
                return removed_total
            last_removed_hash = (
                AuditEvent.objects.for_tenant(tenant)
                .filter(sequence=up_to)
                .values_list("hash", flat=True)
                .get()
            )
            removed_total += _events_remove(tenant_id=tenant.pk, up_to_sequence=up_to)
            chain.checkpoint_sequence = up_to
            chain.checkpoint_hash = last_removed_hash
            chain.checkpoint_signature = checkpoint_signature(
                key=chain.key, sequence=up_to, hash=last_removed_hash
            )
            chain.checkpoint_at = timezone.now()
            chain.save(
                update_fields=[
                    "checkpoint_sequence",
                    "checkpoint_hash",
                    "checkpoint_signature",
                    "checkpoint_at",
                ]
            )
            if up_to == last_old:
                audit_event_record(
                    event=AuditEventType.AUDIT_RETENTION_APPLIED,
                    actor=None,
                    tenant=tenant,
                    details={
                        "removed": removed_total,
                        "before": cutoff.isoformat(),
                        "months": tenant.audit_retention_months,
                        "checkpoint_sequence": up_to,
                    },
                )
                return removed_total
