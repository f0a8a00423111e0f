"""The full check's reading: the whole log in the order its rows lie on disk, cut into runs.

Read chain by chain through an index, every event of a large log costs a random page read (a
month's page holds events of dozens of tenants). Read in the order rows lie on disk, a month at
a time, it costs a sequential read, and a process per core takes a month each. A chain's rows
come in that order almost always in sequence order (its head lock serialises its inserts), so
each chain's rows split into runs of consecutive sequences: every link inside a run is checked
here against the stored hash before it, and only each run's first link is left to check where
runs meet (across months, or where rows came out of order), in audit/integrity.py.
"""

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from json.encoder import encode_basestring_ascii

from django.db import connection, transaction

from audit.chain import (
    HASH_VERSION,
    canonical_ip,
    canonical_json,
    chain_key,
    event_content,
    link_hashers,
)
from audit.models import AuditEvent

# Rows fetched per round trip from a month's server-side cursor: memory stays flat.
FETCH_ROWS = 10_000
# Distinct addresses and details remembered while finishing rows.
VALUES_CACHED = 100_000
# An event's stored columns as its content needs them, in the order `postgres_finished` takes:
# its chain, id, sequence, stored link and key id, then the content's parts as text. Spelling
# a content costs PostgreSQL more than it costs Python, and a large check runs a process per
# core, so PostgreSQL sends the columns and Python spells.
POSTGRES_ROW_COLUMNS = (
    "coalesce(e.tenant_id, 0), e.id, e.sequence, e.hash, e.hash_key_id, "
    "e.event::text, (e.created_at AT TIME ZONE 'UTC')::text, "
    "coalesce(e.actor_id::text, 'null'), e.actor_label, coalesce(e.target_id::text, 'null'), "
    "e.target_label, host(e.ip), e.user_agent, e.details::text"
)
# A month's rows as they lie; which of them a check wants is decided in Python, cheaper than a
# join.
POSTGRES_MONTH_ROWS = f"SELECT {POSTGRES_ROW_COLUMNS} FROM {{table}} AS e"  # noqa: S608 - ours
ORM_FIELDS = (
    "tenant_id",
    "event",
    "created_at",
    "actor_id",
    "actor_label",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "details",
)


@dataclass(frozen=True)
class Run:
    """Consecutive sequences `first_sequence` to `last_sequence` of one chain, every link after
    the first checked. The first row is kept whole, to be checked against the link before it."""

    chain: int
    first_id: int
    first_sequence: int
    first_hash: str
    first_key_id: str
    first_content: str
    last_sequence: int
    last_hash: str
    # The first link after the first that doesn't match: (event id, sequence, kind), kind being
    # "hash" or "key:<id>" as in audit/integrity.py.
    problem: tuple[int, int, str] | None = None


class _OpenRun:
    __slots__ = ("first", "last_sequence", "last_hash", "problem")

    def __init__(self, first: tuple, sequence: int, stored: str) -> None:
        self.first = first
        self.last_sequence = sequence
        self.last_hash = stored
        self.problem: tuple[int, int, str] | None = None

    def closed(self) -> Run:
        chain, pk, sequence, stored, key_id, content = self.first
        return Run(
            chain=chain,
            first_id=pk,
            first_sequence=sequence,
            first_hash=stored,
            first_key_id=key_id,
            first_content=content,
            last_sequence=self.last_sequence,
            last_hash=self.last_hash,
            problem=self.problem,
        )


def month_tables() -> list[str]:
    """What a full check reads a piece at a time: each month's partition (and the default one),
    largest first so the processes finish together; on SQLite, the one table."""
    table = AuditEvent._meta.db_table
    if connection.vendor != "postgresql":
        return [table]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass ORDER BY child.relpages DESC, child.relname",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    return names or [table]


def runs_read(table: str, firsts: dict[int, int]) -> list[Run]:
    """The runs of one month's rows (or the whole table's) of the chains in `firsts`, each
    chain from the sequence given; every link inside a run checked."""
    hashers = link_hashers()
    open_runs: dict[int, _OpenRun] = {}
    runs: list[Run] = []
    for row in _rows(table, firsts):
        chain, pk, sequence, stored, key_id, content = row
        current = open_runs.get(chain)
        if current is None or sequence != current.last_sequence + 1:
            if current is not None:
                runs.append(current.closed())
            open_runs[chain] = _OpenRun(row, sequence, stored)
            continue
        if current.problem is None:
            hasher = hashers.get(key_id)
            if hasher is None:
                current.problem = (pk, sequence, f"key:{key_id}")
            elif hasher(current.last_hash, content) != stored:
                current.problem = (pk, sequence, "hash")
        current.last_sequence = sequence
        current.last_hash = stored
    runs.extend(run.closed() for run in open_runs.values())
    return runs


def _rows(table: str, firsts: dict[int, int]) -> Iterator[tuple[int, int, int, str, str, str]]:
    """(chain, id, sequence, stored hash, key id, canonical content) of each row wanted."""
    if connection.vendor == "postgresql":
        yield from _postgres_rows(table, firsts)
        return
    rows = (
        AuditEvent.objects.order_by("pk")
        .values_list("pk", "sequence", "hash", "hash_key_id", *ORM_FIELDS)
        .iterator(chunk_size=FETCH_ROWS)
    )
    for pk, sequence, stored, key_id, *values in rows:
        fields = dict(zip(ORM_FIELDS, values, strict=True))
        chain = chain_key(fields["tenant_id"])
        first = firsts.get(chain)
        if first is not None and sequence >= first:
            yield chain, pk, sequence, stored, key_id, event_content(sequence=sequence, **fields)


def _postgres_rows(table: str, firsts: dict[int, int]) -> Iterator[tuple]:
    query = POSTGRES_MONTH_ROWS.format(table=connection.ops.quote_name(table))
    # A server-side cursor lives in a transaction; a month's rows are read, never held.
    with transaction.atomic():
        with connection.cursor() as setting:
            # A month dropped by retention since the list was read held nothing wanted.
            setting.execute("SELECT to_regclass(%s)", [table])
            if setting.fetchone()[0] is None:
                return
            # Compiling the scan of a large month costs more than it saves.
            setting.execute("SET LOCAL jit = off")
        with connection.connection.cursor(name="audit_month_rows", binary=True) as cursor:
            cursor.execute(query)
            batches = iter(partial(cursor.fetchmany, FETCH_ROWS), [])
            # From every chain's start, every row is wanted: no need to ask of each.
            wanted = firsts if any(first > 1 for first in firsts.values()) else None
            yield from postgres_finished(itertools.chain.from_iterable(batches), wanted)


def postgres_finished(rows, firsts: dict[int, int] | None = None) -> Iterator[tuple]:
    """(chain, id, sequence, stored hash, key id, canonical content) of rows read with
    `POSTGRES_ROW_COLUMNS`; with `firsts`, only the rows of those chains from those sequences.

    Addresses and details repeat across a chain's events, so each one seen is made canonical
    once."""
    escape = encode_basestring_ascii
    addresses: dict[str | None, str] = {None: "null"}
    details_seen: dict[str, str] = {}
    for (
        chain,
        pk,
        sequence,
        stored,
        key_id,
        event,
        time,
        actor,
        actor_label,
        target,
        target_label,
        ip,
        agent,
        details,
    ) in rows:
        if firsts is not None:
            first = firsts.get(chain)
            if first is None or sequence < first:
                continue
        address = addresses.get(ip)
        if address is None:
            if len(addresses) >= VALUES_CACHED:
                addresses = {None: "null"}
            address = addresses[ip] = escape(canonical_ip(ip))
        canonical_details = details_seen.get(details)
        if canonical_details is None:
            if len(details_seen) >= VALUES_CACHED:
                details_seen.clear()
            canonical_details = details_seen[details] = canonical_json(json.loads(details))
        # The time as `canonical_time` spells it, from PostgreSQL's spelling of a UTC time
        # (`2026-12-07 14:26:03.5`: a fraction without its trailing zeros, none when whole).
        yield (
            chain,
            pk,
            sequence,
            stored,
            key_id,
            f'[{HASH_VERSION},{chain or "null"},{sequence},{event},"{time[:10]}T{time[11:19]}.'
            f'{time[20:26]:0<6}Z",{actor},{escape(actor_label)},{target},'
            f"{escape(target_label)},{address},{escape(agent)},{canonical_details}]",
        )
