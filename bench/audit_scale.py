"""Part 6 of `make bench` (optional: `--parts 6`): the audit log at platform scale on PostgreSQL.

By default 10,000,000 events over 1,000 tenants (`--scale-events`, `--scale-tenants`), spread
over the last twelve months, so they land in twelve monthly partitions. The loader computes
each chain's HMAC links itself, in a process per core (each takes a share of the tenants), and
writes them with COPY into the partitioned table, whose head trigger moves each chain's head as
the recording path does. It loads all but the last 100 events of each chain, signs a checkpoint
at each chain's head (as the hourly check would have, between that event and the next, without
re-reading what it just wrote), then loads the rest. Then, in the same run: the default
(incremental) and the full verification, the owner's trail pages, the CSV export's rate and
memory, single-event recording from 8 tenants at once, and the bytes on disk per event.
Figures: docs/performance.md, part 6; results in bench/results-scale.json.
"""

import io
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.chain import (
    HASH_VERSION,
    canonical_json,
    canonical_time,
    content_from_parts,
    current_chain_key,
    link_hash,
    verified_checkpoint_signature,
)
from audit.events import AuditEventType
from audit.models import AuditChain, AuditCheckpoint
from audit.partitions import month_start, months_ahead_create
from audit.services import audit_event_record
from teams.models import Tenant
from teams.proofs import FACTOR_PROVED_AT_SESSION_KEY, PASSWORD_PROVED_AT_SESSION_KEY
from teams.services.tenants import tenant_create

TAIL = 100
NULL = "\\N"
PAGE_RUNS = 25
EXPORT_ROWS = 1_000_000
RECORDERS = 8
RECORD_SECONDS = 5.0
COPY_COLUMNS = (
    "tenant_id, event, created_at, actor_id, actor_label, target_id, target_label, ip, "
    "user_agent, details, sequence, hash, hash_key_id"
)
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
]
EVENT_MIX = [
    AuditEventType.SIGN_IN_SUCCEEDED,
    AuditEventType.SIGN_IN_SUCCEEDED,
    AuditEventType.SIGNED_OUT,
    AuditEventType.SIGN_IN_FAILED,
    AuditEventType.SESSION_EXPIRED,
    AuditEventType.MFA_VERIFIED,
    AuditEventType.SESSION_STARTED,
]


def _chain_rows(
    tenant_id: int,
    owner: tuple[int, str],
    head: tuple[int, str],
    first: int,
    count: int,
    start: datetime,
    step: timedelta,
    key,
) -> tuple[str, int, str]:
    """COPY text for `count` events of one chain after `head`; returns it and the new head."""
    length, previous = head
    owner_id, owner_email = owner
    lines = []
    details_json = canonical_json({"email": owner_email})
    for index in range(first, first + count):
        sequence = length + 1
        event = int(EVENT_MIX[index % len(EVENT_MIX)])
        failed = event == AuditEventType.SIGN_IN_FAILED
        actor_id, actor_label = (None, "") if failed else (owner_id, owner_email)
        details = details_json if failed else "{}"
        created_at = start + step * index
        ip = f"198.51.{index % 7}.{index % 250}"
        agent = AGENTS[index % 2]
        time_text = canonical_time(created_at)
        content = content_from_parts(
            HASH_VERSION, tenant_id, sequence, event, time_text, actor_id, actor_label,
            owner_id, owner_email, ip, agent, details,
        )  # fmt: skip
        previous = link_hash(key=key, previous_hash=previous, content=content)
        actor_text = NULL if actor_id is None else actor_id
        lines.append(
            f"{tenant_id}\t{event}\t{time_text}\t{actor_text}\t{actor_label}\t{owner_id}\t"
            f"{owner_email}\t{ip}\t{agent}\t{details}\t{sequence}\t{previous}\t{key.id}\n"
        )
        length = sequence
    return "".join(lines), length, previous


def _load_share(job: tuple) -> dict[int, tuple[int, str]]:
    """In a worker: hash and COPY the events of a share of the tenants; return their heads."""
    tenants, heads, first, count, start, step = job
    connections.close_all()
    key = current_chain_key()
    new_heads = {}
    connection.ensure_connection()
    raw = connection.connection
    batch: list[str] = []
    for tenant_id, owner in tenants:
        text, length, last = _chain_rows(
            tenant_id, owner, heads[tenant_id], first, count, start, step, key
        )
        batch.append(text)
        new_heads[tenant_id] = (length, last)
        if len(batch) >= 20:
            _copy(raw, batch)
            batch = []
    if batch:
        _copy(raw, batch)
    connections.close_all()
    return new_heads


def _copy(raw, texts: list[str]) -> None:
    with (
        raw.cursor() as cursor,
        cursor.copy(  # noqa: S608 - our column names
            f"COPY audit_auditevent ({COPY_COLUMNS}) FROM STDIN"
        ) as copy,
    ):
        for text in texts:
            copy.write(text)
    raw.commit()


def _load(tenants, heads, first: int, count: int, start: datetime, step: timedelta) -> dict:
    processes = os.cpu_count() or 1
    shares = [tenants[index::processes] for index in range(processes)]
    jobs = [(share, heads, first, count, start, step) for share in shares if share]
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_load_share, jobs)
        pool.close()
        pool.join()
    merged = {}
    for result in results:
        merged.update(result)
    return merged


def _checkpoints_sign(heads: dict[int, tuple[int, str]], recorded_at: datetime) -> None:
    """What the hourly check would record at these heads, without re-reading the rows."""
    key = current_chain_key()
    rows = []
    for tenant_id, (length, last) in heads.items():
        fields = {
            "sequence": length,
            "hash": last,
            "events": length,
            "recorded_at": recorded_at,
            "reason": "verified",
        }
        signature = verified_checkpoint_signature(key=key, chain=tenant_id, **fields)
        rows.append(AuditCheckpoint(chain_key=tenant_id, **fields, signature=signature))
    AuditCheckpoint.objects.bulk_create(rows, batch_size=5000)


def _timed_verify(*args: str) -> tuple[float, str]:
    out = io.StringIO()
    began = time.perf_counter()
    call_command("verify_audit_log", *args, stdout=out, stderr=io.StringIO())
    return time.perf_counter() - began, out.getvalue().strip()


def _median_ms(client: Client, path: str) -> float:
    timings = []
    for _ in range(PAGE_RUNS):
        began = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(timings)


def _signed_in(user) -> Client:
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="Benchmark", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[PASSWORD_PROVED_AT_SESSION_KEY] = session[FACTOR_PROVED_AT_SESSION_KEY] = int(
        time.time()
    )
    session.save()
    return client


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _export(client: Client, limit: int) -> dict:
    """Stream the operator's export (every tenant); stop after `limit` rows."""
    began = time.perf_counter()
    response = client.get("/audit/export.csv")
    assert response.status_code == 200, response.status_code
    rows = -1
    rss_start = rss_peak = _rss_bytes()
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        if rows % 50_000 == 0:
            rss_peak = max(rss_peak, _rss_bytes())
        if rows >= limit:
            break
    elapsed = time.perf_counter() - began
    response.close()
    return {
        "export_rows": rows,
        "export_rows_per_s": round(rows / elapsed),
        "export_rss_growth_mb": round((max(rss_peak, _rss_bytes()) - rss_start) / 2**20, 1),
    }


def _record_loop(tenant_id: int) -> int:
    connections.close_all()
    tenant = Tenant.objects.get(pk=tenant_id)
    made = 0
    end = time.perf_counter() + RECORD_SECONDS
    while time.perf_counter() < end:
        with transaction.atomic():
            audit_event_record(event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=tenant)
        made += 1
    connections.close_all()
    return made


def _checkpoint() -> None:
    """Write what loading (or the export before) left in memory to disk first, as pgbench's
    own advice goes, so the figures measure the work and not the checkpointer catching up
    beside it. Needs a superuser (or pg_checkpoint); without one the run goes on as it is."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        print("Could not CHECKPOINT (not a superuser); measuring as it is.", file=sys.stderr)


def _record_at_once(tenant_ids: list[int]) -> float:
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(len(tenant_ids)) as pool:
        began = time.perf_counter()
        made = pool.map(_record_loop, tenant_ids)
        elapsed = time.perf_counter() - began
        pool.close()
        pool.join()
    return sum(made) / elapsed


def _disk() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_total_relation_size(inhrelid)), sum(pg_indexes_size(inhrelid)) "
            "FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass"
        )
        total, indexes = cursor.fetchone()
    return int(total), int(indexes)


def measure(total: int, tenant_count: int) -> dict:
    per_tenant = max(total // tenant_count, TAIL + 1)
    now = datetime.now(UTC)
    start = month_start(now - timedelta(days=365))
    step = (now - timedelta(days=1) - start) / per_tenant
    months_ahead_create(since=start)
    print(f"Making {tenant_count:,} tenants…", file=sys.stderr)
    with time_machine.travel(start - timedelta(days=1), tick=True):
        made = [
            tenant_create(name=f"Scale MSP {n}", owner_email=f"owner{n}@scale{n}.example",
                          actor=None)
            for n in range(tenant_count)
        ]  # fmt: skip
    tenants = []
    for tenant in made:
        owner = tenant.people.get()
        tenants.append((tenant.pk, (owner.pk, owner.email)))
    heads = {
        chain.key: (chain.length, chain.head_hash)
        for chain in AuditChain.objects.filter(key__in=[pk for pk, _ in tenants])
    }
    bulk = per_tenant - TAIL
    print(f"Loading {bulk * tenant_count:,} events with COPY…", file=sys.stderr)
    began = time.perf_counter()
    heads = _load(tenants, heads, 0, bulk, start, step)
    load_s = time.perf_counter() - began
    # Signed between each chain's last loaded event and its next, as the hourly check would be.
    _checkpoints_sign(heads, start + step * (bulk - 0.5))
    print(f"Loading the last {TAIL * tenant_count:,} events…", file=sys.stderr)
    _load(tenants, heads, bulk, TAIL, start, step)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        events = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass"
        )
        partitions = cursor.fetchone()[0]
    _checkpoint()

    results = {
        "events": events,
        "tenants": tenant_count,
        "partitions": partitions,
        "load_events_per_s": round(bulk * tenant_count / load_s),
    }
    print("Verifying…", file=sys.stderr)
    results["verify_incremental_s"], results["verify_incremental_says"] = _timed_verify()
    results["verify_full_s"], results["verify_full_says"] = _timed_verify("--full")
    results["verify_processes"] = os.cpu_count()
    for key in ("verify_incremental_s", "verify_full_s"):
        results[key] = round(results[key], 2)

    owner_tenant = Tenant.objects.get(pk=tenants[0][0])
    owner = owner_tenant.people.get()
    client = _signed_in(owner)
    results["trail_first_page_ms"] = round(_median_ms(client, "/audit/"), 1)
    results["trail_event_filter_ms"] = round(
        _median_ms(client, f"/audit/?event={AuditEventType.SIGN_IN_FAILED.value}"), 1
    )
    results["trail_person_filter_ms"] = round(_median_ms(client, f"/audit/?person={owner.pk}"), 1)

    operator = owner.__class__.objects.create_superuser(
        email="operator@scale.example", password=None
    )
    print("Exporting…", file=sys.stderr)
    results.update(_export(_signed_in(operator), min(EXPORT_ROWS, events)))

    _checkpoint()
    print("Recording from 8 tenants at once…", file=sys.stderr)
    results["record_8_tenants_per_s"] = round(
        _record_at_once([pk for pk, _ in tenants[:RECORDERS]])
    )
    total_bytes, index_bytes = _disk()
    results["disk_bytes_per_event"] = round(total_bytes / events)
    results["disk_index_bytes_per_event"] = round(index_bytes / events)
    results["disk_total_gb"] = round(total_bytes / 2**30, 2)
    return results
