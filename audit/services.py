import calendar
import gc
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, Protocol

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit import checkpoints, shipping
from audit.chain import (
    GENESIS_HASH,
    HASH_VERSION,
    ChainKey,
    canonical_json,
    canonical_time,
    chain_key,
    checkpoint_signature,
    content_from_parts,
    current_chain_key,
    link_hash,
)
from audit.client import USER_AGENT_MAX_LENGTH, client_ip, user_agent
from audit.events import AuditEventType
from audit.models import AuditChain, AuditEvent
from teams.models import Tenant

CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
LABEL_MAX_LENGTH = AuditEvent._meta.get_field("actor_label").max_length
IP_FIELD = AuditEvent._meta.get_field("ip")
EVENT_ATTNAMES = [field.attname for field in AuditEvent._meta.concrete_fields]
# Large enough that bulk jobs take one INSERT (100,000 events make a JSON document of about
# 40 MB); beyond it, one more per batch bounds the memory a run takes.
BULK_BATCH_SIZE = 250_000
# How often, in events, a bulk run reports progress while hashing.
PROGRESS_EVERY = 5000


@contextmanager
def garbage_collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector for a bulk job.

    A bulk job makes a few hundred thousand objects that live until it ends; every burst of
    them starts a collection that walks every object the process holds, which was three
    quarters of the time spent building 100,000 events. Nothing a bulk job makes is cyclic, so
    reference counting frees all of it; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BulkProgress(Protocol):
    """Told how far a bulk job is: `stage` names what it does, `done` of `total` items."""

    def __call__(self, *, stage: str, done: int, total: int) -> None: ...


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


class AuditEventSpec(NamedTuple):
    """One event for `audit_events_record_bulk`: the arguments of `audit_event_record`.

    A named tuple rather than a frozen dataclass: bulk jobs make a hundred thousand, and a
    tuple is made several times faster."""

    event: AuditEventType
    tenant: Tenant | None
    actor: Any = None
    target: Any = None
    request: HttpRequest | None = None
    details: dict[str, Any] | None = None


def chain_lock(*, tenant_id: int | None) -> tuple[int, str]:
    """Lock a chain's head row, creating it on first use; return its length and head hash.

    The lock is held until the caller's transaction ends.
    """
    return chains_lock(tenant_ids=[tenant_id])[chain_key(tenant_id)]


def chains_lock(*, tenant_ids: Iterable[int | None]) -> dict[int, tuple[int, str]]:
    """Lock the head rows of several chains in one statement; return each one's length and head
    hash by chain key.

    One statement both creates and locks: `ON CONFLICT DO UPDATE` waits for a writer holding
    a row and then returns the row as that writer committed it, so the next link is always
    made to the true head, never to a stale one. Rows are taken in key order, so two writers
    locking overlapping chains never wait for each other in a cycle.
    """
    heads = sorted({chain_key(tenant_id): tenant_id for tenant_id in tenant_ids}.items())
    table = connection.ops.quote_name(AuditChain._meta.db_table)
    values = ", ".join(["(%s, %s, 0, %s, 0, '', '')"] * len(heads))
    params = [value for key, tenant_id in heads for value in (key, tenant_id, GENESIS_HASH)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, tenant_id, length, head_hash, checkpoint_sequence, "  # noqa: S608 - names are ours
            f"checkpoint_hash, checkpoint_signature) VALUES {values} "
            f"ON CONFLICT (key) DO UPDATE SET length = {table}.length "
            "RETURNING key, length, head_hash",
            params,
        )
        return {key: (length, head_hash) for key, length, head_hash in cursor.fetchall()}


def _user_or_none(user) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _label(person) -> str:
    return escape_control_characters(person.email)[:LABEL_MAX_LENGTH] if person else ""


def _event_values(spec: AuditEventSpec) -> tuple:
    """The stored columns of one event before its place in a chain and its details: tenant id,
    event, actor id and label, target id and label, IP address, user agent."""
    actor = _user_or_none(spec.actor)
    target = spec.target
    request = spec.request
    return (
        spec.tenant.pk if spec.tenant else None,
        int(spec.event),
        actor.pk if actor else None,
        _label(actor),
        target.pk if target else None,
        _label(target),
        client_ip(request) if request is not None else None,
        (
            escape_control_characters(user_agent(request))[:USER_AGENT_MAX_LENGTH]
            if request is not None
            else ""
        ),
    )


def _details_json(details: dict[str, Any] | None, known: dict[str, str]) -> str:
    """`canonical_json` of the escaped details, remembered in `known` by their `repr`.

    A bulk job repeats a handful of detail shapes a hundred thousand times, and walking each
    costs more than everything else per event. `repr` tells apart exactly what the canonical
    text does (1, 1.0 and True are three keys, though equal as dict keys); two spellings of
    the same details only miss the cache.
    """
    key = repr(details)
    text = known.get(key)
    if text is None:
        text = known[key] = canonical_json(escape_control_characters(details or {}))
    return text


EVENT_COLUMNS = (
    "tenant_id",
    "event",
    "actor_id",
    "actor_label",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
)
INSERT_COLUMNS = (
    'INSERT INTO "audit_auditevent" (tenant_id, event, actor_id, actor_label, target_id, '
    "target_label, ip, user_agent, details, sequence, hash, created_at, hash_key_id) "
)


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
    with the change it describes, and if it can't be written the change fails too. It costs at
    most two queries: locking the chain's head (which returns the previous hash) and the insert
    (a trigger moves the head); on PostgreSQL one, when this process wrote the chain's head
    (`_event_insert`). The head stays locked until the caller's transaction ends, so keep long
    work out of a transaction after recording. Once it commits, the event is shipped on to the
    syslog receiver and the tenant's webhook, if set up (audit/shipping.py).
    """
    values = _event_values(
        AuditEventSpec(
            event=event, tenant=tenant, actor=actor, target=target, request=request, details=None
        )
    )
    escaped = escape_control_characters(details or {})
    with transaction.atomic(savepoint=False):
        record = _event_insert(values, details=escaped)
        transaction.on_commit(shipping.shipping_kick)
    return record


# The head this process last linked onto each chain, by chain key: a guess at where the chain
# ends, which the database checks under the head's lock before the event goes in (so a stale
# guess costs a second query, never a wrong link). Bounded: a process recording for more
# chains than this starts again.
_heads_linked: dict[int, tuple[int, str]] = {}
HEADS_LINKED_MAX = 10_000

# One event's insert, returning its id. On PostgreSQL the guessed form also locks the chain's
# head (creating it on first use, as `chains_lock` does) and inserts only if the head is the
# one guessed; either way it returns the head as locked.
EVENT_INSERT = {
    "postgresql": INSERT_COLUMNS
    + "VALUES (%s, %s, %s, %s, %s, %s, %s::inet, %s, %s::jsonb, %s, %s, %s, %s) RETURNING id",
    "sqlite": INSERT_COLUMNS + "VALUES (" + ", ".join(["%s"] * 13) + ") RETURNING id",
}
EVENT_INSERT_GUESSED = (
    "WITH head AS ("  # noqa: S608 - no value in the text
    'INSERT INTO "audit_auditchain" AS chain (key, tenant_id, length, head_hash, '
    "checkpoint_sequence, checkpoint_hash, checkpoint_signature) "
    "VALUES (%s, %s, 0, %s, 0, '', '') "
    "ON CONFLICT (key) DO UPDATE SET length = chain.length RETURNING length, head_hash"
    "), inserted AS ("
    + INSERT_COLUMNS
    + "SELECT %s, %s, %s, %s, %s, %s, %s::inet, %s, %s::jsonb, %s, %s, %s, %s FROM head "
    "WHERE head.length = %s AND head.head_hash = %s RETURNING id"
    ") SELECT head.length, head.head_hash, (SELECT id FROM inserted) FROM head"
)


def _event_insert(values: tuple, *, details: dict[str, Any]) -> AuditEvent:
    """Link one event (`_event_values`, and its escaped details) onto its chain and insert it.

    Without a guess, or where a guess can't be checked in the statement (SQLite), this locks
    the head and then inserts. With one, a single statement locks the head and inserts the event
    linked onto the guessed head if that is the head: this process wrote the last link unless
    another writer, a bulk job or a rollback moved the head since. Otherwise the statement
    returns the head as locked and the insert follows, as without a guess. A guessed event's
    time is taken after the guess is read, so it is never earlier than the guessed head's.
    """
    tenant_id = values[0]
    key = chain_key(tenant_id)
    hash_key = current_chain_key()
    details_json = canonical_json(details)
    vendor = connection.vendor
    ip = IP_FIELD.get_db_prep_save(values[6], connection)
    stored = (*values[:6], ip, values[7], details_json)
    guess = _heads_linked.get(key) if vendor == "postgresql" else None
    with connection.cursor() as cursor:
        if guess is None:
            length, head_hash = chain_lock(tenant_id=tenant_id)
        else:
            length, head_hash = guess
            created_at = timezone.now()
            link = _link(values, details_json, length + 1, head_hash, created_at, hash_key)
            cursor.execute(
                EVENT_INSERT_GUESSED,
                [
                    key,
                    tenant_id,
                    GENESIS_HASH,
                    *stored,
                    length + 1,
                    link,
                    created_at,
                    hash_key.id,
                    length,
                    head_hash,
                ],
            )
            length, head_hash, event_id = cursor.fetchone()
            if event_id is not None:
                return _event_made(
                    values, details, length + 1, link, created_at, hash_key, event_id
                )
        # Taken once the head is locked: a writer that waited for it comes after the one it
        # waited for, in time as in the chain.
        created_at = timezone.now()
        link = _link(values, details_json, length + 1, head_hash, created_at, hash_key)
        row = [
            *stored,
            length + 1,
            link,
            connection.ops.adapt_datetimefield_value(created_at),
            hash_key.id,
        ]
        if vendor in EVENT_INSERT:
            cursor.execute(EVENT_INSERT[vendor], row)
            event_id = cursor.fetchone()[0]
        else:
            record = AuditEvent(
                **dict(zip(EVENT_COLUMNS, values, strict=True)),
                details=details,
                sequence=length + 1,
                hash=link,
                created_at=created_at,
                hash_key_id=hash_key.id,
            )
            record.save(force_insert=True)
            event_id = record.pk
    return _event_made(values, details, length + 1, link, created_at, hash_key, event_id)


def _link(
    values: tuple,
    details_json: str,
    sequence: int,
    previous_hash: str,
    created_at: datetime,
    hash_key: ChainKey,
) -> str:
    return link_hash(
        key=hash_key,
        previous_hash=previous_hash,
        content=content_from_parts(
            HASH_VERSION,
            values[0],
            sequence,
            values[1],
            canonical_time(created_at),
            *values[2:],
            details_json,
        ),
    )


def _event_made(
    values: tuple,
    details: dict[str, Any],
    sequence: int,
    link: str,
    created_at: datetime,
    hash_key: ChainKey,
    event_id: int,
) -> AuditEvent:
    """The event as inserted, as the ORM would have returned it; remembered as its chain's
    head."""
    if len(_heads_linked) >= HEADS_LINKED_MAX:
        _heads_linked.clear()
    _heads_linked[chain_key(values[0])] = (sequence, link)
    row = dict(zip(EVENT_COLUMNS, values, strict=True))
    row.update(
        id=event_id,
        details=details,
        sequence=sequence,
        hash=link,
        created_at=created_at,
        hash_key_id=hash_key.id,
    )
    # As a row read back: the model's positional form, several times faster than keywords.
    return AuditEvent.from_db(connection.alias, None, [row[name] for name in EVENT_ATTNAMES])


def audit_events_record_bulk(
    specs: Sequence[AuditEventSpec],
    *,
    batch_size: int = BULK_BATCH_SIZE,
    progress: BulkProgress | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> int:
    """Record many events at once (say, 100,000 expired sessions), keeping every chain intact.

    All of it happens in one transaction with the caller's change, with one time for every
    event: one query locks every chain involved (in a fixed order, so bulk writers can't
    deadlock each other), then one INSERT per `batch_size` events, whose rows travel as one
    JSON document (on Postgres and SQLite) rather than as model instances.
    Specs may carry `TenantRef` and `PersonRef` in place of model instances, so callers acting
    on thousands of rows need not load them. `progress` hears how far the hashing is, then the
    writing. Returns how many events were recorded.

    `meanwhile` is the caller's own database work, if it has some left: it runs on this
    connection, in the same transaction, once the chains are locked, while a second thread
    hashes the events. One waits on the database and the other on the CPU, so a large job
    takes about as long as the longer of the two rather than their sum. The specs must then
    hold everything the hashing reads (refs, or people already loaded).
    """
    by_chain: dict[int, list[AuditEventSpec]] = {}
    tenant_ids = set()
    for spec in specs:
        tenant_id = spec.tenant.pk if spec.tenant else None
        tenant_ids.add(tenant_id)
        by_chain.setdefault(chain_key(tenant_id), []).append(spec)
    if not by_chain:
        if meanwhile is not None:
            meanwhile()
        return 0
    created_at = timezone.now()
    hash_key = current_chain_key()
    with garbage_collector_paused(), transaction.atomic(savepoint=False):
        heads = chains_lock(tenant_ids=tenant_ids)
        chaining = partial(
            _chained_rows,
            by_chain,
            total=len(specs),
            heads=heads,
            created_at=created_at,
            hash_key=hash_key,
            progress=progress,
        )
        if meanwhile is None:
            rows = chaining()
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-hashing") as pool:
                hashing = pool.submit(chaining)
                meanwhile()
                rows = hashing.result()
        if progress is not None:
            progress(stage="writing audit events", done=len(rows), total=len(specs))
        for start in range(0, len(rows), batch_size):
            _events_insert(
                rows[start : start + batch_size], created_at=created_at, key_id=hash_key.id
            )
        transaction.on_commit(shipping.shipping_kick)
    return len(rows)


def _chained_rows(
    by_chain: dict[int, list[AuditEventSpec]],
    *,
    total: int,
    heads: dict[int, tuple[int, str]],
    created_at: datetime,
    hash_key: ChainKey,
    progress: BulkProgress | None,
) -> list[tuple]:
    """Each chain's specs as stored columns, linked onto the chain's head: the rows
    `_events_insert` takes. Reads no database, so it can run beside the caller's own
    statements."""
    time_text = canonical_time(created_at)
    details_known: dict[str, str] = {}
    rows: list[tuple] = []
    for key, chain_specs in by_chain.items():
        length, previous_hash = heads[key]
        for sequence, spec in enumerate(chain_specs, start=length + 1):
            values = _event_values(spec)
            details_json = _details_json(spec.details, details_known)
            previous_hash = link_hash(
                key=hash_key,
                previous_hash=previous_hash,
                content=content_from_parts(
                    HASH_VERSION,
                    values[0],
                    sequence,
                    values[1],
                    time_text,
                    *values[2:],
                    details_json,
                ),
            )
            rows.append((*values, details_json, sequence, previous_hash))
            if progress is not None and len(rows) % PROGRESS_EVERY == 0:
                progress(stage="recording audit events", done=len(rows), total=total)
    return rows


class TenantRef(NamedTuple):
    """A tenant by id, for bulk specs."""

    pk: int


class PersonRef(NamedTuple):
    """A person by id and email, for bulk specs."""

    pk: int
    email: str


# One INSERT per batch, its rows one JSON array of arrays (which both databases parse faster
# than the driver spells out arrays). Every row of a batch shares `created_at` and the key id.
INSERT_FROM_JSON = {
    "postgresql": INSERT_COLUMNS  # noqa: S608 - no value in the text
    + (
        "SELECT (r ->> 0)::bigint, (r ->> 1)::smallint, (r ->> 2)::bigint, r ->> 3, "
        "(r ->> 4)::bigint, r ->> 5, (r ->> 6)::inet, r ->> 7, (r ->> 8)::jsonb, "
        "(r ->> 9)::bigint, r ->> 10, %s, %s FROM jsonb_array_elements(%s::jsonb) AS r"
    ),
    "sqlite": INSERT_COLUMNS  # noqa: S608 - no value in the text
    + "SELECT "
    + ", ".join(f"json_extract(value, '$[{index}]')" for index in range(11))
    + ", %s, %s FROM json_each(%s)",
}


def _events_insert(rows: list[tuple], *, created_at: datetime, key_id: str) -> None:
    """Insert rows of (`EVENT_COLUMNS`, the details as JSON text, sequence, hash)."""
    if connection.vendor not in INSERT_FROM_JSON:
        AuditEvent.objects.bulk_create(
            AuditEvent(
                **dict(zip(EVENT_COLUMNS, row[:8], strict=True)),
                details=json.loads(row[8]),
                sequence=row[9],
                hash=row[10],
                created_at=created_at,
                hash_key_id=key_id,
            )
            for row in rows
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_FROM_JSON[connection.vendor],
            [connection.ops.adapt_datetimefield_value(created_at), key_id, json.dumps(rows)],
        )


RETENTION_BATCH_SIZE = 50_000


def months_before(moment: datetime, months: int) -> datetime | None:
    """The same day and time `months` calendar months earlier (the month's last day if the
    day doesn't exist then); None when that is before year 1."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    if year < 1:
        return None
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _events_remove(*, tenant_id: int, up_to_sequence: int) -> int:
    """Delete a tenant's events up to a sequence: the one deletion the database lets through.

    On PostgreSQL through `audit_events_remove` (audit migration 0012), which runs with the
    rights of the role that owns the table: the role the site runs as holds no DELETE on it.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT audit_events_remove(%s, %s)", [tenant_id, up_to_sequence])
            return cursor.fetchone()[0]
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        cursor.execute(
            f"DELETE FROM {table} WHERE tenant_id = %s AND sequence <= %s",  # noqa: S608 - ours
            [tenant_id, up_to_sequence],
        )
        return cursor.rowcount


def audit_retention_apply(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Remove a tenant's events older than its `audit_retention_months`; return how many.

    The oldest events go first, in batches of one transaction each, so the chain always starts
    at a checkpoint: the sequence and hash of the last removed event, signed with the
    chain key, from which `verify_audit_log` checks the rest. Events from the first one at or
    after the cutoff onwards are all kept. One AUDIT_RETENTION_APPLIED event records the run,
    and the chain, checked since its last checkpoint, gets a signed checkpoint at its head.
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
                key=current_chain_key(), chain=chain.key, sequence=up_to, hash=last_removed_hash
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
                break
    # Outside the chain's lock: recording may go on while the rest of the chain is checked.
    checkpoints.retention_cut_checkpoint(tenant=tenant, now=timezone.now())
    return removed_total
