"""Checking the hash chains: every event matches its link, and every chain is whole.

By default a chain is checked from its last signed checkpoint (`AuditCheckpoint`, recorded by
the hourly verification and at retention cuts), so the cost follows what is new; `full` checks
from the chain's start. A checkpoint that doesn't carry a valid signature is a break.

Every link is recomputed, and that is fast because each check needs only the stored hash of the
event before, not a recomputed one: if every event's link is the HMAC of the stored previous
link and its own content, the whole chain is intact. So the log is read in pieces checked
independently, in parallel processes once it is large: a full check of many chains reads each
month once as its rows lie and joins each chain's runs (audit/chain_runs.py); other checks read
each chain from its start through its index, long chains in segments, small ones in batches.
"""

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from operator import attrgetter

import psycopg
from django.db import connection, connections, transaction
from django.db.models import Max

from audit import chain_runs
from audit.chain import (
    GENESIS_HASH,
    chain_key,
    checkpoint_signature_valid,
    event_content,
    link_hashers,
    verified_checkpoint_valid,
)
from audit.chain_runs import ORM_FIELDS, POSTGRES_ROW_COLUMNS, Run, postgres_finished
from audit.models import AuditChain, AuditCheckpoint, AuditEvent
from teams.models import Tenant

SEGMENT_SIZE = 50_000
# Below this many events in all, one process: starting more costs more than it saves.
PARALLEL_MIN_EVENTS = 50_000
BEYOND_ANY_SEQUENCE = 2**62
# How long before a checkpoint was recorded an event after it may be timed: one recorded in a
# transaction that began before the check and committed after it, or by a server whose clock is
# behind. The default run reads only the months from then on; a chain that looks broken so is
# read again from its checkpoint whatever the time, so this costs speed when wrong, never truth.
CHECKPOINT_TIME_MARGIN = timedelta(days=1)

POSTGRES_SEGMENT_ROWS = (
    f"SELECT {POSTGRES_ROW_COLUMNS} FROM audit_auditevent AS e "  # noqa: S608 - ours
    "WHERE {tenant} AND e.sequence BETWEEN %s AND %s{since} ORDER BY e.sequence"
)
# Many small chains in one statement: each chain's rows from its first sequence on, read
# through its index (a lateral join, so the planner can't choose to scan every month). On a
# table partitioned by month, planning a statement costs more than reading a few hundred rows,
# so chains with few events to check (the hourly check's, or a thousand small tenants') are
# read a batch at a time rather than a statement each.
POSTGRES_BATCH_ROWS = (
    "SELECT e.* FROM unnest(%s::bigint[], %s::bigint[]) AS wanted(tenant_id, first) "  # noqa: S608 - ours
    f"CROSS JOIN LATERAL (SELECT {POSTGRES_ROW_COLUMNS} FROM audit_auditevent AS e "
    "WHERE e.tenant_id = wanted.tenant_id AND e.sequence >= wanted.first{since} "
    "ORDER BY e.sequence) AS e"
)
BATCH_CHAINS = 2000


@dataclass(frozen=True)
class ChainReport:
    label: str
    checked: int
    problem: str | None = None
    # Where the check began and the last link it found good (the verified head).
    started_at: int = 0
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH
    from_checkpoint: bool = False

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Segment:
    """Sequences `first` to `last` of one chain. `anchor` is the link before `first` when it is
    the chain's start (genesis or retention checkpoint); otherwise the stored hash of event
    `first - 1` is read with the rows."""

    tenant_id: int | None
    first: int
    last: int
    anchor: str | None
    # About how many events it holds (its chain's head as loaded bounds the last one).
    size: int = 0
    # Read only events recorded from then on: the months before aren't searched.
    since: datetime | None = None


@dataclass(frozen=True)
class SegmentResult:
    checked: int
    last_sequence: int | None
    last_hash: str | None
    # (event id, its sequence, what is wrong, the sequence before it when the worker saw it)
    problem: tuple[int, int, str, int | None] | None = None


def chain_label(tenant: Tenant | None) -> str:
    return f"tenant {tenant.slug}" if tenant else "platform events"


def chains_to_verify(*, tenant: Tenant | None = None) -> list[tuple[Tenant | None, AuditChain]]:
    """Each chain with its tenant; a chain whose events exist but whose head is gone comes back
    as an unsaved, empty head, which then fails verification."""
    if tenant is not None:
        tenants: list[Tenant | None] = [tenant]
    else:
        tenants = [None, *Tenant.objects.order_by("slug")]
    heads = {chain.key: chain for chain in AuditChain.objects.all()}
    chains = []
    for each in tenants:
        key = chain_key(each.pk if each else None)
        head = heads.get(key)
        if head is None:
            if not AuditEvent.objects.filter(tenant=each).exists():
                continue
            head = AuditChain(key=key, tenant=each, length=0, head_hash=GENESIS_HASH)
        chains.append((each, head))
    return chains


@dataclass(frozen=True)
class ChainStart:
    """Where a chain's check begins: after `sequence`, whose link is `hash`."""

    sequence: int
    hash: str
    from_checkpoint: bool = False
    problem: str | None = None
    # When the checkpoint it starts from was recorded.
    recorded_at: datetime | None = None


def last_checkpoints(chain_keys_wanted: list[int] | None = None) -> dict[int, AuditCheckpoint]:
    """Each chain's newest checkpoint, by chain key (two queries, however many chains)."""
    rows = AuditCheckpoint.objects.all()
    if chain_keys_wanted is not None:
        rows = rows.filter(chain_key__in=chain_keys_wanted)
    newest = rows.values("chain_key").annotate(newest=Max("id")).values_list("newest", flat=True)
    return {
        checkpoint.chain_key: checkpoint
        for checkpoint in AuditCheckpoint.objects.filter(id__in=list(newest))
    }


def checkpoint_valid(checkpoint: AuditCheckpoint) -> bool:
    return verified_checkpoint_valid(
        signature=checkpoint.signature,
        chain=checkpoint.chain_key,
        sequence=checkpoint.sequence,
        hash=checkpoint.hash,
        events=checkpoint.events,
        recorded_at=checkpoint.recorded_at,
        reason=checkpoint.reason,
    )


def _forged_checkpoint_text(checkpoint: AuditCheckpoint) -> str:
    return (
        f"the checkpoint at sequence {checkpoint.sequence} "
        f"({checkpoint.recorded_at:%Y-%m-%d %H:%M:%S} UTC) is not signed with this site's audit "
        "chain key: it was forged or changed"
    )


def chain_start(chain: AuditChain, checkpoint: AuditCheckpoint | None) -> ChainStart:
    """The retention checkpoint, or the later signed checkpoint when one is given."""
    start = ChainStart(
        sequence=chain.checkpoint_sequence, hash=chain.checkpoint_hash or GENESIS_HASH
    )
    if checkpoint is None:
        return start
    if not checkpoint_valid(checkpoint):
        return ChainStart(sequence=0, hash="", problem=_forged_checkpoint_text(checkpoint))
    if checkpoint.sequence <= chain.checkpoint_sequence:
        return start
    if checkpoint.sequence > chain.length:
        return ChainStart(
            sequence=0,
            hash="",
            problem=(
                f"a checkpoint says the chain reached sequence {checkpoint.sequence} but its "
                f"head says {chain.length}: events were removed from its end"
            ),
        )
    return ChainStart(
        sequence=checkpoint.sequence,
        hash=checkpoint.hash,
        from_checkpoint=True,
        recorded_at=checkpoint.recorded_at,
    )


def _checkpoints_forged(keys: list[int]) -> dict[int, str]:
    """For a full check: the first checkpoint of each chain that doesn't verify."""
    forged: dict[int, str] = {}
    for checkpoint in AuditCheckpoint.objects.filter(chain_key__in=keys).order_by("id"):
        if checkpoint.chain_key not in forged and not checkpoint_valid(checkpoint):
            forged[checkpoint.chain_key] = _forged_checkpoint_text(checkpoint)
    return forged


def _checkpoint_problem(chain: AuditChain) -> str | None:
    if not chain.checkpoint_sequence:
        return None
    if checkpoint_signature_valid(
        signature=chain.checkpoint_signature,
        chain=chain.key,
        sequence=chain.checkpoint_sequence,
        hash=chain.checkpoint_hash,
    ):
        return None
    return (
        f"the retention checkpoint at sequence {chain.checkpoint_sequence} is not signed "
        "with this site's audit chain key: it was forged or changed"
    )


def _segments(
    chain: AuditChain,
    tenant: Tenant | None,
    begin: ChainStart | None = None,
    *,
    since: datetime | None = None,
) -> list[Segment]:
    """The chain cut into segments from `begin` (default: its retention checkpoint). The last
    one reads on past the head, so rows beyond what the head says are seen too."""
    begin = begin or chain_start(chain, None)
    start = begin.sequence + 1
    anchor = begin.hash
    firsts = list(range(start, max(chain.length, start) + 1, SEGMENT_SIZE))
    return [
        Segment(
            tenant_id=tenant.pk if tenant else None,
            first=first,
            last=firsts[index + 1] - 1 if index + 1 < len(firsts) else BEYOND_ANY_SEQUENCE,
            anchor=anchor if index == 0 else None,
            size=min(SEGMENT_SIZE, max(chain.length - first + 1, 0)),
            since=since,
        )
        for index, first in enumerate(firsts)
    ]


def _postgres_rows(segment: Segment, read_from: int) -> Iterator[tuple]:
    """(chain, id, sequence, stored hash, key id, canonical content) of each event, in order."""
    tenant = "e.tenant_id IS NULL" if segment.tenant_id is None else "e.tenant_id = %s"
    params = [] if segment.tenant_id is None else [segment.tenant_id]
    since, since_params = _since_clause(segment.since)
    return postgres_finished(
        _postgres_fetched(
            POSTGRES_SEGMENT_ROWS.format(tenant=tenant, since=since),
            [*params, read_from, segment.last, *since_params],
        )
    )


def _postgres_fetched(query: str, params: list) -> list[tuple]:
    """The rows of one statement, in binary (numbers need no parsing), with no JIT (compiling
    costs more than a few thousand rows take)."""
    with transaction.atomic():
        with connection.cursor() as setting:
            setting.execute("SET LOCAL jit = off")
        # Binary results need the parameters bound by the server (an unnamed statement, which
        # transaction pooling allows), not the client-side binding Django's cursors use.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(query, params, binary=True)
            return cursor.fetchall()


def _orm_rows(segment: Segment, read_from: int) -> Iterator[tuple]:
    rows = (
        AuditEvent.objects.filter(
            tenant_id=segment.tenant_id, sequence__gte=read_from, sequence__lte=segment.last
        )
        .order_by("sequence")
        .values_list("pk", "sequence", "hash", "hash_key_id", *ORM_FIELDS)
    )
    chain = chain_key(segment.tenant_id)
    for pk, sequence, stored, key_id, *values in rows.iterator(chunk_size=SEGMENT_SIZE):
        fields = dict(zip(ORM_FIELDS, values, strict=True))
        yield chain, pk, sequence, stored, key_id, event_content(sequence=sequence, **fields)


def segment_check(segment: Segment) -> SegmentResult:
    """Check one segment's links against the stored hashes; stop at the first wrong one."""
    read_from = segment.first if segment.anchor is not None else segment.first - 1
    reader = _postgres_rows if connection.vendor == "postgresql" else _orm_rows
    return _rows_check(segment, reader(segment, read_from))


def batch_check(segments: tuple[Segment, ...]) -> list[SegmentResult]:
    """Check whole small chains (each one segment from its anchor), read in one statement."""
    bounds = [segment.since for segment in segments]
    since, since_params = _since_clause(None if None in bounds else min(bounds))
    rows = _postgres_fetched(
        POSTGRES_BATCH_ROWS.format(since=since),
        [
            [segment.tenant_id for segment in segments],
            [segment.first for segment in segments],
            *since_params,
        ],
    )
    by_tenant: dict[int, list[tuple]] = {}
    for row in postgres_finished(rows):
        by_tenant.setdefault(row[0], []).append(row)
    return [
        _rows_check(segment, iter(by_tenant.get(segment.tenant_id, []))) for segment in segments
    ]


def _since_clause(since: datetime | None) -> tuple[str, list[datetime]]:
    """A bound on the event time as a constant, so the planner leaves out earlier months."""
    return ("", []) if since is None else (" AND e.created_at >= %s", [since])


def unit_check(unit: Segment | tuple[Segment, ...]) -> list[SegmentResult]:
    """One piece of work for a process: a segment, or a batch of small chains."""
    return batch_check(unit) if isinstance(unit, tuple) else [segment_check(unit)]


def _rows_check(segment: Segment, rows: Iterator[tuple]) -> SegmentResult:
    hashers = link_hashers()
    previous_hash = segment.anchor
    expected = segment.first if segment.anchor is not None else None
    previous_sequence = None if segment.anchor is None else segment.first - 1
    checked = 0
    for _, pk, sequence, stored, key_id, content in rows:
        if expected is None:
            # The row before the segment: the anchor of its first link.
            expected = segment.first
            if sequence == segment.first - 1:
                previous_hash, previous_sequence = stored, sequence
                continue
        if sequence != expected:
            return SegmentResult(
                checked=checked,
                last_sequence=previous_sequence,
                last_hash=previous_hash,
                problem=(pk, sequence, "gap", previous_sequence),
            )
        hasher = hashers.get(key_id)
        if hasher is None:
            return SegmentResult(
                checked=checked,
                last_sequence=previous_sequence,
                last_hash=previous_hash,
                problem=(pk, sequence, f"key:{key_id}", previous_sequence),
            )
        if hasher(previous_hash, content) != stored:
            return SegmentResult(
                checked=checked,
                last_sequence=previous_sequence,
                last_hash=previous_hash,
                problem=(pk, sequence, "hash", previous_sequence),
            )
        previous_hash, previous_sequence = stored, sequence
        expected += 1
        checked += 1
    return SegmentResult(checked=checked, last_sequence=previous_sequence, last_hash=previous_hash)


def _event_name(pk: int, sequence: int) -> str:
    created_at = AuditEvent.objects.filter(pk=pk).values_list("created_at", flat=True).get()
    return f"event #{pk} (sequence {sequence}, {created_at:%Y-%m-%d %H:%M:%S} UTC)"


def _problem_text(problem: tuple[int, int, str, int | None], previous_sequence: int) -> str:
    pk, sequence, kind, _ = problem
    name = _event_name(pk, sequence)
    if kind == "gap":
        return f"{name} follows sequence {previous_sequence}: the events between were removed"
    if kind == "repeat":
        return f"{name} repeats sequence {sequence}: an event was added to the chain"
    if kind.startswith("key:"):
        return (
            f"{name} was hashed with a key this site doesn't have (key id {kind[4:]}): list the "
            "retired key in AUDIT_CHAIN_KEY_FALLBACKS"
        )
    return f"{name} does not match its hash: it, or the link before it, was changed"


def _work_units(segments: list[Segment]) -> list[Segment | tuple[Segment, ...]]:
    """The segments in order, small whole chains on PostgreSQL gathered into batches of up to
    `BATCH_CHAINS` chains and about `SEGMENT_SIZE` events."""
    if connection.vendor != "postgresql":
        return list(segments)
    units: list[Segment | tuple[Segment, ...]] = []
    batch: list[Segment] = []
    events = 0
    for segment in segments:
        whole_chain = segment.anchor is not None and segment.last == BEYOND_ANY_SEQUENCE
        if whole_chain and segment.tenant_id is not None:
            batch.append(segment)
            events += segment.size
            if len(batch) >= BATCH_CHAINS or events >= SEGMENT_SIZE:
                units.append(tuple(batch))
                batch, events = [], 0
            continue
        if batch:
            units.append(tuple(batch))
            batch, events = [], 0
        units.append(segment)
    if batch:
        units.append(tuple(batch))
    return units


def _segment_results(segments: list[Segment], *, parallel: bool) -> Iterator[SegmentResult]:
    units = _work_units(segments)
    if not parallel:
        for unit in units:
            yield from unit_check(unit)
        return
    # Forked workers must open connections of their own, never share the parent's socket.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=os.cpu_count() or 1, initializer=_worker_start) as pool:
        for results in pool.imap(unit_check, units):
            yield from results


def _worker_start() -> None:
    """A worker ends quietly when the pool is done with it, whatever handlers the parent set."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connections.close_all()


def chains_verify(
    chains: list[tuple[Tenant | None, AuditChain]],
    *,
    progress: Callable[[int, int], None] | None = None,
    full: bool = True,
) -> list[ChainReport]:
    """Walk each chain to its head from its start, or with `full=False` from its last signed
    checkpoint; report on each.

    A chain's report names its first event that doesn't match: a sequence gap (events removed),
    a key the site doesn't know, or a link that isn't the HMAC of its content and the previous
    link (an event changed, or one before it). A checkpoint that isn't signed with a key the
    site knows is a break too. Then the head is checked against the last event, which shows
    events cut off the end. `progress(chain index, events checked in it)` is called as
    segments finish. Large logs on PostgreSQL are checked by a process per core.
    """
    reports = _chains_walk(chains, progress=progress, full=full, bounded=not full)
    if not full:
        # A chain that looks broken when only its recent months are read is read whole from
        # its checkpoint, and that reading's report stands: the months left out were a guess.
        again = [index for index, report in enumerate(reports) if not report.intact]
        if again:
            redone = _chains_walk([chains[index] for index in again], full=False, bounded=False)
            for index, report in zip(again, redone, strict=True):
                reports[index] = report
    return reports


def _chains_walk(
    chains: list[tuple[Tenant | None, AuditChain]],
    *,
    full: bool,
    bounded: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[ChainReport]:
    keys = [chain.key for _, chain in chains]
    checkpoints = {} if full else last_checkpoints(keys if len(keys) < 1000 else None)
    forged = _checkpoints_forged(keys) if full else {}
    reports: dict[int, ChainReport] = {}
    starts: dict[int, ChainStart] = {}
    for index, (tenant, chain) in enumerate(chains):
        begin = chain_start(chain, checkpoints.get(chain.key))
        problem = _checkpoint_problem(chain) or begin.problem or forged.get(chain.key)
        if problem:
            reports[index] = ChainReport(label=chain_label(tenant), checked=0, problem=problem)
            continue
        starts[index] = begin
    total = sum(max(chains[index][1].length - begin.sequence, 0) for index, begin in starts.items())
    parallel = (
        connection.vendor == "postgresql"
        and total >= PARALLEL_MIN_EVENTS
        and not connection.in_atomic_block
    )
    if full and len(starts) > 1:
        # Checking many chains whole, reading the log once as it lies beats chain by chain.
        state = _runs_walk(chains, starts, reports, parallel=parallel, progress=progress)
    else:
        since = {
            index: begin.recorded_at - CHECKPOINT_TIME_MARGIN
            for index, begin in starts.items()
            if bounded and begin.recorded_at is not None
        }
        state = _segments_walk(
            chains, starts, reports, since=since, parallel=parallel, progress=progress
        )
    for index, (tenant, chain) in enumerate(chains):
        if index in reports:
            continue
        begin = starts[index]
        checked, last_sequence, last_hash = state.get(index, (0, begin.sequence, begin.hash))
        problem = None
        if (last_sequence != chain.length or last_hash != chain.head_hash) and not _grew_meanwhile(
            chain, last_sequence
        ):
            problem = (
                f"the chain ends at sequence {last_sequence} but its head says "
                f"{chain.length}: events were removed from its end"
            )
        reports[index] = ChainReport(
            label=chain_label(tenant),
            checked=checked,
            problem=problem,
            started_at=begin.sequence,
            last_sequence=last_sequence,
            last_hash=last_hash,
            from_checkpoint=begin.from_checkpoint,
        )
    return [reports[index] for index in range(len(chains))]


ChainState = dict[int, tuple[int, int, str]]


def _segments_walk(
    chains: list[tuple[Tenant | None, AuditChain]],
    starts: dict[int, ChainStart],
    reports: dict[int, ChainReport],
    *,
    since: dict[int, datetime],
    parallel: bool,
    progress: Callable[[int, int], None] | None,
) -> ChainState:
    """Each chain read from its start through its index, in segments (only events timed from
    `since` on, where given); returns how far each intact chain was checked (events, last
    sequence, last link) and reports the broken ones."""
    plans = [
        (index, segment)
        for index, begin in starts.items()
        for segment in _segments(chains[index][1], chains[index][0], begin, since=since.get(index))
    ]
    results = _segment_results([segment for _, segment in plans], parallel=parallel)
    state: ChainState = {}
    for (index, segment), result in zip(plans, results, strict=True):
        if index in reports:
            continue
        tenant, chain = chains[index]
        checked, last_sequence, last_hash = state.get(
            index, (0, segment.first - 1, segment.anchor or GENESIS_HASH)
        )
        if result.problem is not None:
            previous = result.problem[3] if result.problem[3] is not None else last_sequence
            reports[index] = ChainReport(
                label=chain_label(tenant),
                checked=checked + result.checked,
                problem=_problem_text(result.problem, previous),
            )
            continue
        if result.last_sequence is not None:
            last_sequence, last_hash = result.last_sequence, result.last_hash
        state[index] = (checked + result.checked, last_sequence, last_hash)
        if progress is not None:
            progress(index, checked + result.checked)
    return state


def _runs_walk(
    chains: list[tuple[Tenant | None, AuditChain]],
    starts: dict[int, ChainStart],
    reports: dict[int, ChainReport],
    *,
    parallel: bool,
    progress: Callable[[int, int], None] | None,
) -> ChainState:
    """`_segments_walk` for a full check of many chains: every month read once in the order
    its rows lie (audit/chain_runs.py), then each chain's runs joined from its start."""
    firsts = {chains[index][1].key: begin.sequence + 1 for index, begin in starts.items()}
    runs_by_chain: dict[int, list[Run]] = {}
    for runs in _month_runs(firsts, parallel=parallel):
        for run in runs:
            runs_by_chain.setdefault(run.chain, []).append(run)
    hashers = link_hashers()
    state: ChainState = {}
    for index, begin in starts.items():
        tenant, chain = chains[index]
        checked, last_sequence, last_hash = 0, begin.sequence, begin.hash
        problem = None
        for run in sorted(runs_by_chain.get(chain.key, []), key=attrgetter("first_sequence")):
            problem = _joint_problem(run, last_sequence, last_hash, hashers)
            if problem is None and run.problem is not None:
                checked += run.problem[1] - run.first_sequence
                problem = (*run.problem, run.problem[1] - 1)
            if problem is not None:
                break
            checked += run.last_sequence - run.first_sequence + 1
            last_sequence, last_hash = run.last_sequence, run.last_hash
        if problem is not None:
            reports[index] = ChainReport(
                label=chain_label(tenant),
                checked=checked,
                problem=_problem_text(problem, problem[3]),
            )
            continue
        state[index] = (checked, last_sequence, last_hash)
        if progress is not None:
            progress(index, checked)
    return state


def _month_runs(firsts: dict[int, int], *, parallel: bool) -> Iterator[list[Run]]:
    tables = chain_runs.month_tables()
    if not parallel:
        for table in tables:
            yield chain_runs.runs_read(table, firsts)
        return
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=os.cpu_count() or 1, initializer=_worker_start) as pool:
        yield from pool.imap_unordered(partial(chain_runs.runs_read, firsts=firsts), tables)


def _joint_problem(
    run: Run, last_sequence: int, last_hash: str, hashers: dict[str, Callable[[str, str], str]]
) -> tuple[int, int, str, int] | None:
    """What is wrong where `run` meets the checked chain before it, if anything."""
    if run.first_sequence != last_sequence + 1:
        kind = "gap" if run.first_sequence > last_sequence else "repeat"
        return run.first_id, run.first_sequence, kind, last_sequence
    hasher = hashers.get(run.first_key_id)
    if hasher is None:
        return run.first_id, run.first_sequence, f"key:{run.first_key_id}", last_sequence
    if hasher(last_hash, run.first_content) != run.first_hash:
        return run.first_id, run.first_sequence, "hash", last_sequence
    return None


def _grew_meanwhile(chain: AuditChain, last_sequence: int) -> bool:
    """Whether events were recorded while the chain was checked: the walk read past the head
    as it was loaded, and the head has since moved at least as far. A live site's chains grow
    under a check; that is no break."""
    if last_sequence <= chain.length or not chain.pk:
        return False
    return AuditChain.objects.filter(key=chain.key, length__gte=last_sequence).exists()


def chain_verify(*, tenant: Tenant | None, chain: AuditChain) -> ChainReport:
    """`chains_verify` for one chain."""
    return chains_verify([(tenant, chain)])[0]
