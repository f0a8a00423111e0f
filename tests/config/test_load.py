"""Fifty clients for thirty seconds against gunicorn and a Celery worker on PostgreSQL and Redis:
sign-ins (some wrong), second steps, page views and resets. No 5xx, one audit event per attempt,
no mail sent twice, and the chain verifies afterwards.

Everything runs on 127.0.0.1 and is stopped at the end, whatever happens. Each client speaks
from its own address through `X-Forwarded-For` (the server trusts one proxy), as people behind
one MSP's proxy would, so the per-IP lockout counts each client apart.
"""

import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.management import call_command
from django.db import connection

from accounts.models import PasswordResetRequest, User
from audit.events import AuditEventType
from audit.models import AuditEvent
from outbox.models import OutboxMail
from tests.factories import DEFAULT_PASSWORD, TOTPDeviceFactory, UserFactory
from tests.live_site import Browser, Processes, site_env
from tests.signing_in import device_code

CLIENTS = 50
SECONDS = 30

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@dataclass
class Site:
    port: int
    folder: Path
    worker: subprocess.Popen


@pytest.fixture
def site(redis_url, tmp_path):
    """gunicorn and a Celery worker on the test database, stopped at the end."""
    env = site_env(
        redis_url,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
    )
    processes = Processes(tmp_path)
    try:
        port = processes.gunicorn("gunicorn", env, workers=3)
        worker = processes.celery(
            "worker", env, *("worker", "--pool", "threads", "--concurrency", "4")
        )
        yield Site(port=port, folder=tmp_path, worker=worker)
    finally:
        processes.stop()


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
        browser = Browser(f"198.51.{100 + index // 250}.{index % 250 + 1}")
        chance = random.Random(index)  # noqa: S311 - a workload, not a secret

        def request(method: str, path: str, data: dict | None = None) -> tuple[int, str, bytes]:
            return browser.request(site.port, method, path, data)

        try:
            while time.monotonic() < until:
                browser.cookies = {}
                request("GET", "/accounts/login/")
                action = chance.choice(["sign_in", "sign_in", "wrong", "second_step", "reset"])
                if action == "sign_in":
                    status, location, _ = request(
                        "POST",
                        "/accounts/login/",
                        {"username": plain[index].email, "password": DEFAULT_PASSWORD},
                    )
                    count(f"sign_in_{status}")
                    if status == 302:
                        for path in ("/", "/accounts/sessions/", "/audit/logins/"):
                            request("GET", path)
                        request("POST", "/accounts/logout/", {})
                elif action == "wrong":
                    status, _, _ = request(
                        "POST",
                        "/accounts/login/",
                        {"username": wrong[index].email, "password": "not-the-password"},
                    )
                    count(f"wrong_{status}")
                elif action == "second_step":
                    status, location, _ = request(
                        "POST",
                        "/accounts/login/",
                        {"username": with_code[index].email, "password": DEFAULT_PASSWORD},
                    )
                    count(f"password_step_{status}")
                    if status == 302 and location.startswith("/mfa/verify/"):
                        status, _, _ = request(
                            "POST", "/mfa/verify/", {"otp_token": device_code(devices[index])}
                        )
                        count(f"second_step_{status}")
                else:
                    status, _, _ = request(
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
