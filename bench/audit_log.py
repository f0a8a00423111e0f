"""Part 5 of `make bench`: the audit log at size, 1,000,000 events in one tenant on PostgreSQL.

`measure()` fills one tenant's chain through the bulk recording path (so the chain is valid) and
measures recording, the trail, verification and the export. bench/run.py sets Django up, makes
the throwaway database and drops it again; run this part alone with `--parts 5`. See
docs/audit.md for what it measures and the figures.
"""

import hmac
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit import integrity
from audit.chain import current_chain_key
from audit.events import AuditEventType
from audit.models import AuditChain
from audit.selectors import CappedPaginator, audit_trail_page_source
from audit.services import AuditEventSpec, audit_event_record, audit_events_record_bulk
from teams import scopes
from teams.models import Role
from teams.services.people import person_create
from teams.services.tenants import tenant_create

PEOPLE = 50
SPECS_PER_TRANSACTION = 10_000
PAGE_RUNS = 25
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
]
EVENT_MIX = [
    AuditEventType.SIGN_IN_SUCCEEDED,
    AuditEventType.SIGN_IN_SUCCEEDED,
    AuditEventType.SIGNED_OUT,
    AuditEventType.SIGN_IN_FAILED,
    AuditEventType.SESSION_EXPIRED,
    AuditEventType.SESSION_REVOKED,
    AuditEventType.MFA_VERIFIED,
]
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)


def median_ms(client: Client, path: str, runs: int = PAGE_RUNS) -> float:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(timings)


def median_sql_ms(source, runs: int = PAGE_RUNS) -> float:
    """The trail's queries alone, without the view: the capped count and the first page."""
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        list(CappedPaginator(source, 50).page(1))
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def fill(tenant, people, requests, total: int) -> float:
    transactions = max(total // SPECS_PER_TRANSACTION, 1)
    began = time.perf_counter()
    made = 0
    for number in range(transactions):
        count = min(SPECS_PER_TRANSACTION, total - made)
        specs = []
        for index in range(count):
            serial = made + index
            person = people[serial % len(people)]
            event = EVENT_MIX[serial % len(EVENT_MIX)]
            actor = None if event == AuditEventType.SIGN_IN_FAILED else person
            specs.append(
                AuditEventSpec(
                    event=event,
                    tenant=tenant,
                    actor=actor,
                    target=person,
                    request=requests[serial % len(requests)],
                    details={"email": person.email} if actor is None else None,
                )
            )
        with time_machine.travel(START + SPAN * number / transactions, tick=True):
            audit_events_record_bulk(specs)
        made += count
        if number % 10 == 9:
            rate = made / (time.perf_counter() - began)
            print(f"  {made:>9,} events ({rate:,.0f}/s)", file=sys.stderr)
    return made / (time.perf_counter() - began)


def read_floor(tenant) -> float:
    """Seconds to read the chain's rows as verification does (same statements, same segments,
    one process), with no hashing: what reading alone costs."""
    chain = AuditChain.objects.get(key=tenant.pk)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        for segment in integrity._segments(chain, tenant):
            cursor.execute(
                integrity.POSTGRES_SEGMENT_ROWS.format(tenant="tenant_id = %s"),
                [tenant.pk, segment.first, segment.last],
            )
            cursor.fetchall()
    return time.perf_counter() - began


def _hash_messages(count: int) -> float:
    key = current_chain_key().secret
    message = (
        "0" * 64 + "\n" + '[2,1,1,100,"2025-01-01T00:00:00.000000Z",1,"a@b.example",' * 3
    ).encode()
    digest = hmac.digest
    began = time.perf_counter()
    for _ in range(count):
        digest(key, message, "sha256").hex()
    return time.perf_counter() - began


def hash_floor(total: int) -> tuple[float, float]:
    """Seconds to compute `total` HMACs of a typical event's length and nothing else: in one
    process, and split over one process per core (the pool's start included)."""
    single = _hash_messages(total)
    processes = os.cpu_count() or 1
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_hash_messages, [total // processes] * processes)
        # Let the workers finish rather than be terminated: they carry the bench's SIGTERM
        # handler, which would print a KeyboardInterrupt from each.
        pool.close()
        pool.join()
    return single, time.perf_counter() - began


def measure(total: int) -> dict:
    tenant = tenant_create(name="Benchmark MSP", owner_email="owner@bench.example", actor=None)
    owner = tenant.people.get()
    technician_role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    people = [
        person_create(
            tenant=tenant, email=f"tech{n}@bench.example", role=technician_role, actor=owner
        )
        for n in range(PEOPLE)
    ]
    factory = RequestFactory()
    requests = [
        factory.get("/", REMOTE_ADDR=f"198.51.{n % 7}.{n}", HTTP_USER_AGENT=AGENTS[n % 4])
        for n in range(40)
    ]
    print(f"Filling one tenant with {total:,} events…", file=sys.stderr)
    bulk_rate = fill(tenant, people, requests, total)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")

    single = 2000
    began = time.perf_counter()
    for _ in range(single):
        with transaction.atomic():
            audit_event_record(
                event=AuditEventType.SIGN_IN_SUCCEEDED,
                actor=people[0],
                tenant=tenant,
                target=people[0],
                request=requests[0],
            )
    single_rate = single / (time.perf_counter() - began)

    # Not setup_test_environment(): its template instrumentation would slow every page down.
    # The owner's role requires a second factor, so the session carries a verified one.
    client = Client(SERVER_NAME="localhost")
    client.force_login(owner)
    device = TOTPDevice.objects.create(user=owner, name="Benchmark", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    person = people[7]
    week = START + SPAN / 2
    results = {
        "events": total,
        "bulk_record_per_s": round(bulk_rate),
        "single_record_per_s": round(single_rate),
        "trail_first_page_ms": round(median_ms(client, "/audit/"), 1),
        "trail_person_filter_ms": round(median_ms(client, f"/audit/?person={person.pk}"), 1),
        "trail_date_filter_ms": round(
            median_ms(
                client,
                f"/audit/?since={week:%Y-%m-%d}&until={week + timedelta(days=6):%Y-%m-%d}",
            ),
            1,
        ),
        "trail_person_and_date_ms": round(
            median_ms(client, f"/audit/?person={person.pk}&since={week:%Y-%m-%d}"), 1
        ),
        "trail_event_filter_ms": round(
            median_ms(client, f"/audit/?event={AuditEventType.SIGN_IN_FAILED.value}"), 1
        ),
    }

    results["sql_person_filter_ms"] = round(
        median_sql_ms(audit_trail_page_source(viewer=owner, person=person)), 1
    )
    results["sql_date_filter_ms"] = round(
        median_sql_ms(
            audit_trail_page_source(
                viewer=owner, since=week.date(), until=(week + timedelta(days=6)).date()
            )
        ),
        1,
    )

    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    call_command("verify_audit_log", "--tenant", tenant.slug)
    results["verify_s"] = round(time.perf_counter() - began, 2)
    results["verify_processes"] = os.cpu_count()
    results["verify_floor_read_s"] = round(read_floor(tenant), 2)
    single, parallel = hash_floor(AuditChain.objects.get(key=tenant.pk).length)
    results["verify_floor_hash_s"] = round(single, 2)
    results["verify_floor_hash_parallel_s"] = round(parallel, 2)
    results["verify_load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]

    began = time.perf_counter()
    response = client.get("/audit/export.csv")
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    elapsed = time.perf_counter() - began
    results["export_rows"] = rows
    results["export_rows_per_s"] = round(rows / elapsed)
    return results
