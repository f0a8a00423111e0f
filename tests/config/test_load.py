"""Fifty clients for thirty seconds against gunicorn and a Celery worker on PostgreSQL and Redis:
sign-ins (some wrong), second steps, page views and resets. No 5xx, one audit event per attempt,
no mail sent twice, and the chain verifies afterwards.

Everything runs on 127.0.0.1 and is stopped at the end, whatever happens. Each client speaks
from its own address through `X-Forwarded-For` (the server trusts one proxy), as people behind
one MSP's proxy would, so the per-IP lockout counts each client apart.
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.management import call_command
from django.db import connection

from accounts.models import PasswordResetRequest, User
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from tests.factories import DEFAULT_PASSWORD, TOTPDeviceFactory, UserFactory
from tests.signing_in import device_code

CLIENTS = 50
SECONDS = 30
PORT = 8107
BASE_DIR = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
SESSION_COOKIE = re.compile(r"sessionid=([^;]+)")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


class Browser:
    """One client: its own address and cookies, a new connection per request (sync workers)."""

    def __init__(self, index: int) -> None:
        self.ip = f"198.51.{100 + index // 250}.{index % 250 + 1}"
        self.cookies: dict[str, str] = {}
        self.statuses: Counter[int] = Counter()

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, str, bytes]:
        headers = {
            "X-Forwarded-For": self.ip,
            "Cookie": "; ".join(f"{key}={value}" for key, value in self.cookies.items()),
        }
        body = None
        if data is not None:
            data = {**data, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
            body = urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        http = HTTPConnection("127.0.0.1", PORT, timeout=60)
        try:
            http.request(method, path, body, headers)
            response = http.getresponse()
            content = response.read()
        finally:
            http.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value and "Max-Age=0" not in header:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        self.statuses[response.status] += 1
        return response.status, response.getheader("Location", ""), content

    def fresh(self) -> None:
        self.cookies = {}
        self.request("GET", "/accounts/login/")


def start(command: list[str], env: dict, log: Path, **options) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own server and worker, on loopback only
        command, cwd=BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, **options
    )


@dataclass
class Site:
    folder: Path
    worker: subprocess.Popen


@pytest.fixture
def site(redis_url, tmp_path, live_server_env):
    """gunicorn and a Celery worker on the test database, stopped at the end.

    The test opens the listening socket and hands it to gunicorn, so the first request waits in
    the socket's queue until a gunicorn worker takes it: no polling for the server to come up.
    """
    try:
        listener = socket.create_server(("127.0.0.1", PORT))
    except OSError as error:
        pytest.fail(f"Cannot listen on 127.0.0.1:{PORT} ({error}); stop what uses it, run again.")
    with listener:
        processes = [
            start(
                [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"fd://{listener.fileno()}"]
                + ["--workers", "3", "--timeout", "60"],
                live_server_env,
                tmp_path / "gunicorn.log",
                pass_fds=[listener.fileno()],
            ),
            start(
                [str(BIN / "celery"), "-A", "config", "worker", "--pool", "threads"]
                + ["--concurrency", "4", "--loglevel", "WARNING"],
                live_server_env,
                tmp_path / "worker.log",
            ),
        ]
    try:
        try:
            http = HTTPConnection("127.0.0.1", PORT, timeout=60)
            http.request("GET", "/healthz")
            started = http.getresponse().status == 200
        except OSError:
            started = False
        if not started:
            pytest.fail("gunicorn did not start: " + (tmp_path / "gunicorn.log").read_text())
        yield Site(folder=tmp_path, worker=processes[1])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def live_server_env(redis_url, tmp_path):
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "LOG_LEVEL": "WARNING",
    }


def drained(worker: subprocess.Popen, timeout: float = 60) -> bool:
    """Wait, at most `timeout` seconds, for the worker to finish what the run queued.

    The queue's state is looked at twice a second; in between the wait is on the worker
    process, so a worker that dies ends the wait at once.
    """
    until = time.monotonic() + timeout
    while (
        PasswordResetRequest.objects.filter(processed_at__isnull=True).exists()
        or OutboxMail.objects.filter(status=OutboxMail.Status.PENDING).exists()
    ):
        if time.monotonic() >= until:
            return False
        try:
            worker.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue
        return False
    return True


def test_fifty_clients_for_thirty_seconds(site, tenant):
    tenant.alert_owners_on_unusual_sign_in = False
    tenant.save()
    plain = [UserFactory(tenant=tenant, email=f"plain{n}@load.example") for n in range(CLIENTS)]
    wrong = [UserFactory(tenant=tenant, email=f"wrong{n}@load.example") for n in range(CLIENTS)]
    with_code = [UserFactory(tenant=tenant, email=f"code{n}@load.example") for n in range(CLIENTS)]
    # The server hashes with Argon2: one hash for everybody, rather than 150 slow ones.
    User.objects.filter(tenant=tenant).update(
        password=Argon2PasswordHasher().encode(DEFAULT_PASSWORD, Argon2PasswordHasher().salt())
    )
    devices = [TOTPDeviceFactory(user=person) for person in with_code]
    tally: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    until = time.monotonic() + SECONDS

    def count(what: str) -> None:
        with lock:
            tally[what] += 1

    def client(index: int) -> None:
        browser = Browser(index)
        chance = random.Random(index)  # noqa: S311 - a workload, not a secret
        try:
            while time.monotonic() < until:
                browser.fresh()
                action = chance.choice(["sign_in", "sign_in", "wrong", "second_step", "reset"])
                if action == "sign_in":
                    status, location, _ = browser.request(
                        "POST",
                        "/accounts/login/",
                        {"username": plain[index].email, "password": DEFAULT_PASSWORD},
                    )
                    count(f"sign_in_{status}")
                    if status == 302:
                        for path in ("/", "/accounts/sessions/", "/audit/logins/"):
                            browser.request("GET", path)
                        browser.request("POST", "/accounts/logout/", {})
                elif action == "wrong":
                    status, _, _ = browser.request(
                        "POST",
                        "/accounts/login/",
                        {"username": wrong[index].email, "password": "not-the-password"},
                    )
                    count(f"wrong_{status}")
                elif action == "second_step":
                    status, location, _ = browser.request(
                        "POST",
                        "/accounts/login/",
                        {"username": with_code[index].email, "password": DEFAULT_PASSWORD},
                    )
                    count(f"password_step_{status}")
                    if status == 302 and location.startswith("/mfa/verify/"):
                        status, _, _ = browser.request(
                            "POST", "/mfa/verify/", {"otp_token": device_code(devices[index])}
                        )
                        count(f"second_step_{status}")
                else:
                    status, _, _ = browser.request(
                        "POST", "/accounts/password/reset/", {"email": plain[index].email}
                    )
                    count(f"reset_{status}")
        except BaseException as error:  # noqa: BLE001 - reported in the test thread below
            errors.append(error)
        finally:
            with lock:
                tally.update({f"http_{status}": n for status, n in browser.statuses.items()})

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    print(dict(sorted(tally.items())))

    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    assert not [key for key in tally if key.startswith("http_5")], tally
    assert tally["sign_in_302"] > 0 and tally["second_step_302"] > 0 and tally["reset_302"] > 0
    assert drained(site.worker), "the worker did not finish the queued resets and mails"
    connection.close()

    def events(kind, people) -> int:
        return AuditEvent.objects.filter(event=kind, target_id__in=[p.pk for p in people]).count()

    assert events(AuditEventType.SIGN_IN_SUCCEEDED, plain) == tally["sign_in_302"]

    # Every wrong attempt is one event, whether answered with the form or with the lock notice.
    def answered(prefix: str) -> int:
        return sum(n for key, n in tally.items() if key.startswith(prefix))

    assert events(AuditEventType.SIGN_IN_FAILED, wrong) == answered("wrong_")
    assert events(AuditEventType.MFA_VERIFIED, with_code) == tally["second_step_302"]
    assert events(AuditEventType.MFA_FAILED, with_code) == (
        answered("second_step_") - tally["second_step_302"]
    )
    requested = events(AuditEventType.PASSWORD_RESET_REQUESTED, plain)
    assert requested == tally["reset_302"]

    sent = OutboxMail.objects.filter(status=OutboxMail.Status.SENT)
    mail_folder = site.folder / "mail"
    mail_files = list(mail_folder.glob("*.log")) if mail_folder.exists() else []
    messages = sum(path.read_text().count("\nSubject: ") for path in mail_files)
    assert messages == sent.count()
    assert not OutboxMail.objects.exclude(status=OutboxMail.Status.SENT).exists()

    call_command("verify_audit_log")
