"""`make bench`: measure Portcullis on PostgreSQL and Redis; print a table and write JSON.

    make bench        # or: .venv/bin/python bench/run.py [--parts 1,2,3,4,5] [--seconds 8]
    make bench BENCH_ARGS="--parts 6 [--scale-events 10000000 --scale-tenants 1000]"

Parts 1 and 3 also run on SQLite: `DATABASE_URL=sqlite:///var/bench.sqlite3`.

It measures and reports; it passes or fails on nothing. Every comparison is a ratio of two sides
measured in the same run, interleaved in blocks, on the same machine. It makes a throwaway
database (`test_<name in DATABASE_URL>`, default `test_portcullis_bench`), and drops it at the end,
also when interrupted. What each part measures and the figures: docs/performance.md.
"""

import argparse
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-audit-chain-key-not-for-production-01234")
os.environ.setdefault("USE_TLS", "0")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portcullis_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp.oath import totp  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from accounts.models import User  # noqa: E402
from bench import audit_log, audit_scale  # noqa: E402
from teams import scopes  # noqa: E402
from teams.models import Role, Tenant, UserSession  # noqa: E402
from teams.services.tenants import tenant_create  # noqa: E402

PASSWORD = "bench-password-not-secret-42"  # noqa: S105 - the bench people's, in a throwaway DB
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def browser() -> Client:
    """A test client on a host the settings allow (`testserver` is only allowed under tests)."""
    return Client(SERVER_NAME="localhost")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def people_add(tenant: Tenant, count: int, prefix: str, password_hash: str) -> list[User]:
    role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    now = timezone.now()
    return User.objects.bulk_create(
        User(
            email=f"{prefix}{n}@{tenant.slug}.example",
            tenant=tenant,
            role=role,
            password=password_hash,
            date_joined=now,
            password_changed_at=now,
        )
        for n in range(count)
    )


def bench_tenant(name: str) -> tuple[Tenant, User]:
    """A tenant whose roles don't require a second factor (new tenants' roles do), so that a
    password POST is a whole sign-in, and whose Owners are not mailed about new places."""
    tenant = tenant_create(name=name, owner_email=f"owner@{name.lower()}.example", actor=None)
    tenant.alert_owners_on_unusual_sign_in = False
    tenant.save()
    Role.objects.for_tenant(tenant).update(require_mfa=False)
    owner = tenant.people.get()
    owner.set_password(PASSWORD)
    owner.save()
    return tenant, owner


# --- part 1: a sign-in against bare Django's, in lock-step rounds

# What part 1 aims for (issue 24), Portcullis ÷ bare Django, and statements per whole sign-in.
SIGN_IN_TARGETS = {
    "whole_sign_in": 1.4,
    "password_step_mfa": 1.4,
    "second_step_post": 1.8,
    "statements": 12,
}
WARM_UP_ROUNDS = 20


def sign_in_timed(client: Client, email: str) -> float:
    client.cookies.clear()
    began = time.perf_counter()
    response = client.post("/accounts/login/", {"username": email, "password": PASSWORD})
    took = time.perf_counter() - began
    signed_in(response, person=email)
    return took


def signed_in(response, *, person) -> None:
    """Stop the run unless `response` ends a whole sign-in (no further step asked for)."""
    if response.status_code != 302 or response.url != "/":
        raise RuntimeError(f"sign-in of {person} was not whole: {response}")


def database_url(name: str) -> str:
    """A URL for database `name` on the server (or, on SQLite, in the directory) the bench
    uses, for the processes it starts."""
    database = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(database['NAME']).with_name(name)}"
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{name}"


def side_environment(database: str) -> dict:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    password = settings.DATABASES["default"].get("PASSWORD")
    if password:
        env["PGPASSWORD"] = password
    return env | ({"DATABASE_URL": database} if database else {})


class Side:
    """A process serving one side (bench/sign_in_side.py), driven a command at a time."""

    def __init__(self, settings_module: str, env: dict) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own Python, our own script
            [sys.executable, str(BASE_DIR / "bench" / "sign_in_side.py")],
            cwd=BASE_DIR,
            env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.read()  # ready: settings loaded, its database made

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a side of part 1 stopped ({self.process.wait()})")
        return json.loads(line)

    def ask(self, do: str, **arguments) -> dict:
        self.process.stdin.write(json.dumps({"do": do, **arguments}) + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        self.process.stdin.close()  # the side drops its database on end of input
        self.process.wait(timeout=60)


def summary(seconds: list[float]) -> dict:
    return {"median_ms": ms(statistics.median(seconds)), "p95_ms": ms(percentile(seconds, 0.95))}


def ratio(over: dict, under: dict) -> dict:
    return {
        "median": round(over["median_ms"] / under["median_ms"], 2),
        "p95": round(over["p95_ms"] / under["p95_ms"], 2),
    }


def part_sign_in(rounds: int) -> dict:
    """Portcullis and bare Django, each served by a process of its own, in lock-step rounds:
    each round is a whole sign-in on each side (a fresh browser GETs the form and POSTs it),
    then a Portcullis sign-in of a person with an authenticator app (password POST, code POST),
    the side that goes first alternating from round to round."""
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        password_hash = make_password(PASSWORD)
        tenant, _ = bench_tenant("Signinbench")
        plain = [person.email for person in people_add(tenant, 200, "plain", password_hash)]
        # One person per second-step sign-in: a code is accepted once per person and time step.
        with_app = people_add(tenant, WARM_UP_ROUNDS + rounds, "app", password_hash)
        TOTPDevice.objects.bulk_create(
            TOTPDevice(user=person, name="Authenticator app", confirmed=True) for person in with_app
        )
        counted_person = people_add(tenant, 1, "count", password_hash)[0].email
    bare_name = Path(connection.settings_dict["NAME"]).name.removeprefix("test_")
    portcullis = Side(
        "config.settings",
        side_environment(database_url(Path(connection.settings_dict["NAME"]).name)),
    )
    try:
        bare = Side(
            "bench.bare.settings",
            side_environment("") | {"BARE_DATABASE_URL": database_url(f"{bare_name}_bare")},
        )
    except BaseException:
        portcullis.stop()
        raise
    try:
        bare.ask("people", emails=[*plain, counted_person], password_hash=password_hash)
        times = {
            "portcullis_whole": [],
            "portcullis_password_step_mfa": [],
            "portcullis_second_step_post": [],
            "bare_whole": [],
            "bare_post": [],
        }
        for n in range(WARM_UP_ROUNDS + rounds):
            email = plain[n % len(plain)]
            sides = [("portcullis", portcullis), ("bare", bare)]
            for name, side in sides if n % 2 else reversed(sides):
                took = side.ask("whole", email=email, password=PASSWORD)
                if n >= WARM_UP_ROUNDS:
                    times[f"{name}_whole"].append(took["get_s"] + took["post_s"])
                    if name == "bare":
                        times["bare_post"].append(took["post_s"])
            took = portcullis.ask("second_step", email=with_app[n].email, password=PASSWORD)
            if n >= WARM_UP_ROUNDS:
                times["portcullis_password_step_mfa"].append(took["password_s"])
                times["portcullis_second_step_post"].append(took["verify_s"])
        # Counted on a person of their own, signed in once before on each side: a returning
        # person under their session cap.
        counts = {}
        for name, side in (("portcullis", portcullis), ("bare", bare)):
            side.ask("whole", email=counted_person, password=PASSWORD)
            counts[name] = side.ask("statements", email=counted_person, password=PASSWORD)
    finally:
        portcullis.stop()
        bare.stop()
    figures = {what: summary(seconds) for what, seconds in times.items()}
    return {
        "database": connection.vendor,
        "redis": bool(settings.REDIS_URL),
        "rounds": rounds,
        "portcullis": {
            "whole_sign_in": figures["portcullis_whole"],
            "password_step_mfa": figures["portcullis_password_step_mfa"],
            "second_step_post": figures["portcullis_second_step_post"],
            "statements": counts["portcullis"]["statements"],
            "statements_sql": counts["portcullis"]["sql"],
        },
        "bare_django": {
            "whole_sign_in": figures["bare_whole"],
            "sign_in_post": figures["bare_post"],
            "statements": counts["bare"]["statements"],
        },
        # Each Portcullis figure over the bare figure of the same rounds: the whole sign-in
        # over bare's whole sign-in, each POST over bare's sign-in POST (its work: check the
        # password, start the session, answer a redirect).
        "ratios": {
            "whole_sign_in": ratio(figures["portcullis_whole"], figures["bare_whole"]),
            "password_step_mfa": ratio(
                figures["portcullis_password_step_mfa"], figures["bare_post"]
            ),
            "second_step_post": ratio(figures["portcullis_second_step_post"], figures["bare_post"]),
        },
        "targets": SIGN_IN_TARGETS,
    }


# --- part 2: sign-ins per second under gunicorn against the Argon2 limit


def _verify_loop(args) -> tuple[int, float]:
    """Verifications done in `seconds`, and the CPU seconds they took (every Argon2 thread's)."""
    encoded, seconds = args
    hasher = Argon2PasswordHasher()
    count, until = 0, time.perf_counter() + seconds
    cpu_before = time.process_time()
    while time.perf_counter() < until:
        hasher.verify(PASSWORD, encoded)
        count += 1
    return count, time.process_time() - cpu_before


def argon2_limit(encoded: str, processes: int, seconds: float) -> tuple[float, float]:
    """Argon2 verifications per second in `processes` processes, and per CPU second."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        runs = pool.map(_verify_loop, [(encoded, seconds)] * processes)
    count = sum(done for done, _ in runs)
    return count / seconds, count / sum(cpu for _, cpu in runs)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_of_children(parent: int) -> float:
    """User and system CPU seconds of `parent`'s live children (gunicorn's workers), every
    thread's included, read from /proc: what the server spent, whatever else runs."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def _csrf(port: int) -> tuple[str, str]:
    http = HTTPConnection("127.0.0.1", port, timeout=30)
    http.request("GET", "/accounts/login/")
    response = http.getresponse()
    body = response.read()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
    http.close()
    return cookie, CSRF_FIELD.search(body).group(1).decode()


def load_run(
    port: int, emails: list[str], concurrency: int, seconds: float, csrf: tuple[str, str]
) -> dict:
    """`concurrency` clients signing in back to back for `seconds`; each request on its own
    connection (gunicorn's sync workers close it after each response). The clients share one
    CSRF cookie and token (`_csrf`), fetched by the caller beforehand, so the run holds
    sign-ins only: part 2 counts the server's CPU over it."""
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    cookie, token = csrf
    until = time.perf_counter() + seconds

    def client(index: int) -> None:
        n = index
        while time.perf_counter() < until:
            body = urlencode(
                {
                    "username": emails[n % len(emails)],
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": token,
                }
            )
            began = time.perf_counter()
            http = HTTPConnection("127.0.0.1", port, timeout=60)
            http.request(
                "POST",
                "/accounts/login/",
                body,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": f"csrftoken={cookie}",
                },
            )
            response = http.getresponse()
            response.read()
            http.close()
            took = time.perf_counter() - began
            with lock:
                if response.status == 302 and response.getheader("Location") == "/":
                    latencies.append(took)
                else:
                    failures.append(response.status)
            n += concurrency

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "sign_ins": len(latencies),
        "sign_ins_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": ms(statistics.median(latencies)) if latencies else None,
        "p99_ms": ms(percentile(latencies, 0.99)) if latencies else None,
        "failures": len(failures),
        "failure_statuses": sorted(set(failures)),
    }


def gunicorn_start(port: int, workers: int, worker_options: list[str]) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn, on loopback only
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            *worker_options,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            http = HTTPConnection("127.0.0.1", port, timeout=2)
            http.request("GET", "/healthz")
            if http.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


# gunicorn's sync workers (the Procfile's) and threaded workers, two threads each.
SERVER_MODELS = {"sync": [], "gthread": ["--worker-class", "gthread", "--threads", "2"]}


def part_throughput(port: int, seconds: float) -> dict:
    """Sign-ins per second against Argon2 verifications per second, two ways.

    Wall: sign-ins per second over verifications per second in two processes, alternated,
    on the whole machine; the load generator's own CPU (and anything else running) is taken
    from the same cores. CPU: Argon2 CPU milliseconds per verification over the server's CPU
    milliseconds per sign-in (gunicorn's workers, read from /proc), which the generator and
    other work on the machine do not enter: the share of the web node's CPU that is Argon2.
    """
    encoded = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    tenant, _ = bench_tenant("Loadbench")
    # Enough people that none reaches the session cap (5) in the run: a sign-in at the cap
    # also ends the oldest session, which is not the sign-in measured here.
    emails = [person.email for person in people_add(tenant, 400, "load", encoded)]
    workers = 2
    hasher = Argon2PasswordHasher
    results = {
        "workers": workers,
        "argon2": {
            "time_cost": hasher.time_cost,
            "memory_cost_kib": hasher.memory_cost,
            "parallelism": hasher.parallelism,
        },
        "load_average_before": [round(load, 2) for load in os.getloadavg()],
    }
    for model, options in SERVER_MODELS.items():
        server = gunicorn_start(port, workers, options)
        try:
            load_run(port, emails, 2, 2, _csrf(port))  # warm up both workers
            results[model] = {
                f"concurrency_{concurrency}": throughput_at(
                    server, port, emails, encoded, concurrency, seconds
                )
                for concurrency in (2, 4, 8)
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
        base = results[model]["concurrency_2"]["p99_ms"]
        for concurrency in (4, 8):
            run = results[model][f"concurrency_{concurrency}"]
            # The queue grows as concurrency / workers; so may the wait, no faster.
            run["p99_growth"] = round(run["p99_ms"] / base, 2)
            run["queue_growth"] = round(concurrency / 2, 2)
    results["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    return results


def throughput_at(
    server: subprocess.Popen,
    port: int,
    emails: list[str],
    encoded: str,
    concurrency: int,
    seconds: float,
) -> dict:
    # Three short alternations rather than one long run of each side, so a burst of other
    # work on the machine lands on both sides alike.
    limits, limits_per_cpu, runs, server_cpu = [], [], [], []
    for _ in range(3):
        per_second, per_cpu_second = argon2_limit(encoded, 2, seconds / 3)
        limits.append(per_second)
        limits_per_cpu.append(per_cpu_second)
        csrf = _csrf(port)
        cpu_before = cpu_seconds_of_children(server.pid)
        runs.append(load_run(port, emails, concurrency, seconds / 3, csrf))
        server_cpu.append(cpu_seconds_of_children(server.pid) - cpu_before)
    limit = statistics.mean(limits)
    sign_ins = sum(r["sign_ins"] for r in runs)
    server_ms_per_sign_in = 1000 * sum(server_cpu) / sign_ins
    argon2_ms_per_verification = 1000 / statistics.mean(limits_per_cpu)
    run = {
        "sign_ins_per_s": round(statistics.mean(r["sign_ins_per_s"] for r in runs), 2),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
        "failure_statuses": sorted({status for r in runs for status in r["failure_statuses"]}),
        "argon2_limit_per_s": round(limit, 2),
        "server_cpu_ms_per_sign_in": round(server_ms_per_sign_in, 1),
        "argon2_cpu_ms_per_verification": round(argon2_ms_per_verification, 1),
    }
    run["ratio"] = round(run["sign_ins_per_s"] / limit, 2)
    run["cpu_ratio"] = round(argon2_ms_per_verification / server_ms_per_sign_in, 2)
    return run


# --- part 3: queries per request at 10 and at 1,000 people


def counted(action) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        action()
    writes = sum(
        1
        for query in queries
        if query["sql"].lstrip().split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}
    )
    return len(queries), writes


def second_step_client(tenant: Tenant, label: str) -> tuple[Client, dict]:
    person = people_add(tenant, 1, f"mfa-{label}-", make_password(PASSWORD))[0]
    device = TOTPDevice.objects.create(user=person, name="Authenticator app", confirmed=True)
    client = browser()
    response = client.post("/accounts/login/", {"username": person.email, "password": PASSWORD})
    assert response.url.startswith("/mfa/verify/"), response.url
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return client, {"otp_token": f"{code:0{device.digits}d}"}


def pages_ok(response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request['PATH_INFO']} answered {response.status_code}")


def queries_at(tenant: Tenant, owner: User, label: str) -> dict:
    signer = people_add(tenant, 1, f"signer-{label}-", make_password(PASSWORD))[0]
    counts = {}
    client = browser()
    counts["sign_in_post"] = counted(lambda: sign_in_timed(client, signer.email))
    mfa_client, code = second_step_client(tenant, label)
    counts["second_step_post"] = counted(
        lambda: signed_in(mfa_client.post("/mfa/verify/", code), person="the second step's person")
    )
    owner_client = browser()
    sign_in_timed(owner_client, owner.email)
    for name, path in (
        ("dashboard", "/"),
        ("sessions_page", "/accounts/sessions/"),
        ("admin_people_list", "/admin/accounts/user/"),
        ("audit_trail", "/audit/"),
    ):
        owner_client.get(path)  # the first visit after sign-in may note the session's activity
        counts[name] = counted(lambda path=path: pages_ok(owner_client.get(path)))
    return counts


def part_queries() -> dict:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        tenant, owner = bench_tenant("Querybench")
        people_add(tenant, 10 - 3, "q", make_password(PASSWORD))  # owner, signer, MFA person
        at_10 = queries_at(tenant, owner, "10")
        people_add(tenant, 1000 - User.objects.filter(tenant=tenant).count() - 2, "r", "!")
        at_1000 = queries_at(tenant, owner, "1000")
    assert User.objects.filter(tenant=tenant).count() == 1000
    return {
        page: {
            "queries_at_10": at_10[page][0],
            "queries_at_1000": at_1000[page][0],
            "writes_at_1000": at_1000[page][1],
        }
        for page in at_10
    }


# --- part 4: bulk work at size


def insert_people(tenant: Tenant, count: int, prefix: str, joined, last_login) -> None:
    role = Role.objects.for_tenant(tenant).get(name=scopes.TECHNICIAN.name)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (email, full_name, tenant_id, role_id, is_active, "
            "is_staff, is_superuser, date_joined, last_login, password, "
            "password_change_required) "
            "SELECT %s || n || '@' || %s || '.example', '', %s, %s, true, false, false, "
            "%s, %s, '!', false FROM generate_series(1, %s) AS n",
            [prefix, tenant.slug, tenant.pk, role.pk, joined, last_login, count],
        )


def timed_command(*args) -> dict:
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        call_command(*args, stdout=open(os.devnull, "w"))  # noqa: SIM115
        seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 2), "queries": len(queries)}


def part_bulk(sizes: tuple[int, ...]) -> dict:
    now = timezone.now()
    results = {}
    for size in sizes:
        tenant, _ = bench_tenant(f"Stale{size}")
        insert_people(tenant, size, "stale", now - timedelta(days=400), now - timedelta(days=200))
        results[f"deactivate_stale_accounts_{size}"] = timed_command(
            "deactivate_stale_accounts", "--days", "90", "--tenant", tenant.slug
        )
        assert not User.objects.filter(tenant=tenant, is_active=True, role__name="Technician")
    for size in sizes:
        tenant, _ = bench_tenant(f"Idle{size}")
        insert_people(tenant, 100, "idle", now, now)
        people = list(User.objects.filter(tenant=tenant).values_list("pk", flat=True))
        idle_since = now - timedelta(hours=2)
        for start in range(0, size, 10_000):
            UserSession.objects.bulk_create(
                UserSession(
                    tenant=tenant,
                    user_id=people[n % len(people)],
                    session_key=f"idle-{size}-{n}",
                    started_at=idle_since,
                    last_active_at=idle_since,
                )
                for n in range(start, min(size, start + 10_000))
            )
        results[f"expire_idle_sessions_{size}"] = timed_command("expire_idle_sessions")
        assert not UserSession.objects.filter(tenant=tenant).exists()
    return results


# --- part 5: the audit log at size (bench/audit_log.py)


def part_audit(events: int) -> dict:
    return audit_log.measure(events)


# --- part 6 (optional): the audit log at platform scale (bench/audit_scale.py)


def part_scale(events: int, tenants: int) -> dict:
    return audit_scale.measure(events, tenants)


# --- the run


SIGN_IN_ROWS = {
    "whole_sign_in": ("whole sign-in, GET + POST", "whole_sign_in", "whole_sign_in"),
    "password_step_mfa": (
        "password POST of a person with an app (to /mfa/verify/) ÷ bare sign-in POST",
        "password_step_mfa",
        "sign_in_post",
    ),
    "second_step_post": (
        "/mfa/verify/ POST ÷ bare sign-in POST",
        "second_step_post",
        "sign_in_post",
    ),
}


def sign_in_rows(sign_in: dict) -> list[str]:
    where = sign_in["database"] + (" + Redis" if sign_in["redis"] else "")
    lines = []
    for what, (label, ours, theirs) in SIGN_IN_ROWS.items():
        portcullis, bare = sign_in["portcullis"][ours], sign_in["bare_django"][theirs]
        ratios = sign_in["ratios"][what]
        lines.append(
            f"| 1 | {label}, {where}: Portcullis / bare (median; p95), ratio median / p95, "
            f"target ≤ {sign_in['targets'][what]} | {portcullis['median_ms']} / "
            f"{bare['median_ms']} ms; {portcullis['p95_ms']} / {bare['p95_ms']} ms; "
            f"{ratios['median']} / {ratios['p95']} |"
        )
    lines.append(
        f"| 1 | statements per whole sign-in, {where}: Portcullis / bare, target ≤ "
        f"{sign_in['targets']['statements']} | {sign_in['portcullis']['statements']} / "
        f"{sign_in['bare_django']['statements']} |"
    )
    return lines


def table(results: dict) -> str:
    lines = ["| part | what | figure |", "| --- | --- | --- |"]
    sign_in = results.get("sign_in")
    if sign_in:
        lines += sign_in_rows(sign_in)
    load = results.get("throughput")
    if load:
        for model in SERVER_MODELS:
            for concurrency in (2, 4, 8):
                run = load[model][f"concurrency_{concurrency}"]
                growth = ""
                if "p99_growth" in run:
                    growth = f", p99 ×{run['p99_growth']} (queue ×{run['queue_growth']})"
                lines.append(
                    f"| 2 | Argon2 sign-ins at concurrency {concurrency}, gunicorn {model}: "
                    f"CPU ratio (Argon2 ms ÷ server ms per sign-in), target ≥ 0.9; wall "
                    f"sign-ins/s vs limit | {run['argon2_cpu_ms_per_verification']} / "
                    f"{run['server_cpu_ms_per_sign_in']} = {run['cpu_ratio']}; "
                    f"{run['sign_ins_per_s']} / {run['argon2_limit_per_s']} = {run['ratio']} "
                    f"(p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms{growth}, "
                    f"{run['failures']} failed) |"
                )
    for page, counts in results.get("queries", {}).items():
        lines.append(
            f"| 3 | queries: {page.replace('_', ' ')} at 10 / 1,000 people (writes) | "
            f"{counts['queries_at_10']} / {counts['queries_at_1000']} "
            f"({counts['writes_at_1000']}) |"
        )
    for name, figures in results.get("bulk", {}).items():
        what, size = name.rsplit("_", 1)
        lines.append(
            f"| 4 | `{what}` over {int(size):,}, target < 5 s | "
            f"{figures['seconds']} s, {figures['queries']} queries |"
        )
    audit = results.get("audit")
    if audit:
        lines += [
            f"| 5 | recording rate, one event per transaction / bulk ({audit['events']:,} events) "
            f"| {audit['single_record_per_s']} / {audit['bulk_record_per_s']} events/s |",
            f"| 5 | trail first page, person filter / 7-day date filter (median), target < 50 ms "
            f"| {audit['trail_person_filter_ms']} / {audit['trail_date_filter_ms']} ms |",
            f"| 5 | CSV export | {audit['export_rows_per_s']} rows/s |",
            f"| 5 | `verify_audit_log` ({audit['verify_processes']} processes), target < 10 s | "
            f"{audit['verify_s']} s |",
            f"| 5 | floor: reading the rows alone / hashing alone (1 process; all cores) | "
            f"{audit['verify_floor_read_s']} s / {audit['verify_floor_hash_s']} s; "
            f"{audit['verify_floor_hash_parallel_s']} s |",
        ]
    return "\n".join(lines)


ALL_PARTS = {1, 2, 3, 4, 5}


def results_path(parts: set[int]) -> Path:
    """`bench/results.json` for a whole run; a run of some parts writes beside it
    (`results-parts-4.json`), so the figures of one whole run are never mixed with others."""
    on = "-sqlite" if connection.vendor == "sqlite" else ""
    if parts >= ALL_PARTS:
        return BASE_DIR / "bench" / "results.json"
    return BASE_DIR / "bench" / f"results-parts-{'-'.join(map(str, sorted(parts)))}{on}.json"


def git_commit() -> str:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    return described.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="1,2,3,4,5", help="Which parts, e.g. 1,3")
    parser.add_argument("--seconds", type=float, default=8, help="Length of each load run")
    parser.add_argument("--rounds", type=int, default=400, help="Lock-step rounds in part 1")
    parser.add_argument("--bulk", type=int, default=100_000, help="Size for part 4")
    parser.add_argument("--events", type=int, default=1_000_000, help="Audit events, part 5")
    parser.add_argument(
        "--scale-events", type=int, default=10_000_000, help="Audit events, part 6 (optional)"
    )
    parser.add_argument("--scale-tenants", type=int, default=1_000, help="Tenants, part 6")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8107)))
    arguments = parser.parse_args()
    parts = {int(part) for part in arguments.parts.split(",")}
    if connection.vendor == "sqlite":
        if parts - {1, 3}:
            parser.error("on SQLite only parts 1 and 3 run: --parts 1,3")
        # A file beside the named one, not the in-memory database Django tests on.
        named = Path(connection.settings_dict["NAME"])
        connection.settings_dict["TEST"]["NAME"] = str(named.with_name(f"test_{named.name}"))
    elif connection.vendor != "postgresql" or not settings.REDIS_URL:
        parser.error("the figures are for PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    original_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results: dict = {
        "run": {
            "parts": sorted(parts),
            "started_at": timezone.now().isoformat(timespec="seconds"),
            "commit": git_commit(),
        },
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    try:
        steps = [
            (3, "queries", part_queries),
            (1, "sign_in", lambda: part_sign_in(arguments.rounds)),
            (4, "bulk", lambda: part_bulk((1_000, arguments.bulk))),
            (2, "throughput", lambda: part_throughput(arguments.port, arguments.seconds)),
            (5, "audit", lambda: part_audit(arguments.events)),
            (6, "scale", lambda: part_scale(arguments.scale_events, arguments.scale_tenants)),
        ]
        for number, name, run in steps:
            if number in parts:
                print(f"Part {number}: {name}…", file=sys.stderr)
                results[name] = run()
    finally:
        results["machine"]["load_average_end"] = os.getloadavg()
        connection.creation.destroy_test_db(original_name, verbosity=0)
        print(f"Dropped the throwaway database {test_name}.", file=sys.stderr)
    if "scale" in results:
        # Part 6 keeps a file of its own, whatever ran beside it.
        scale = {"run": results["run"], "machine": results["machine"], "scale": results["scale"]}
        (BASE_DIR / "bench" / "results-scale.json").write_text(json.dumps(scale, indent=2) + "\n")
        print(json.dumps(results.pop("scale"), indent=2))
    if parts - {6}:
        results_path(parts - {6}).write_text(json.dumps(results, indent=2) + "\n")
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
