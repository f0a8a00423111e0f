"""The access log holds no token: the Procfile's own `web` command, run for real.

gunicorn is started exactly as the Procfile says (through `sh -c`, with `PORT` and
`WEB_CONCURRENCY` set), on a migrated SQLite file of its own. A real invitation link (from
`create_tenant`'s mail) and a "this wasn't me" link are visited, and the log is read back.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path
from types import SimpleNamespace

import pytest

from accounts.alerts import report_link_token

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def procfile_command(process: str) -> str:
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"The Procfile has no {process} process.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str) -> tuple[int, dict]:
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Referer": f"http://127.0.0.1:{port}{path}"})
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The Procfile's web process on a free port, its output (both logs) in one file."""
    folder = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": "",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(folder / "mail"),
        "LOG_FORMAT": "json",
        "DEBUG": "0",
    }
    manage = [str(BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)  # noqa: S603
    subprocess.run(  # noqa: S603 - our own command
        [*manage, "create_tenant", "Log Test", "--owner-email", "owner@logs.example"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    log = folder / "web.log"
    server = subprocess.Popen(  # noqa: S602 - the Procfile's own line, on loopback
        procfile_command("web").replace("0.0.0.0", "127.0.0.1"),  # noqa: S104 - replaced
        shell=True,
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start: " + log.read_text())
                time.sleep(0.2)
        yield SimpleNamespace(port=port, log=log, mail=folder / "mail")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)


def log_once_written(web, expected: str) -> tuple[str, list[dict]]:
    """The log's text and lines, once `expected` is in it: gunicorn writes the access line
    after the response is sent, so the client can be a moment ahead of it."""
    deadline = time.monotonic() + 10
    text = web.log.read_text()
    while expected not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        text = web.log.read_text()
    return text, [json.loads(line) for line in text.splitlines() if line.strip()]


def test_an_invitation_link_leaves_no_token_in_the_access_log(web):
    mail = "".join(path.read_text() for path in web.mail.iterdir())
    path = re.search(r"http://127\.0\.0\.1:\d+(/accounts/reset/[^/\s]+/[^/\s]+/)", mail).group(1)
    token = path.rstrip("/").rsplit("/", 1)[1]

    status, headers = get(web.port, path)

    assert status == 302
    assert headers["location"].endswith("/set-password/")
    text, lines = log_once_written(web, f'"request_id": "{headers["x-request-id"]}"')
    assert token not in text
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    visit = next(line for line in access if line["path"].startswith("/accounts/reset/"))
    assert visit["path"].endswith("/[redacted]/")
    assert visit["request_id"] == headers["x-request-id"]
    assert visit["status"] == "302"
    assert visit["time"].endswith("Z")
    assert visit["level"] == "INFO"


def test_a_not_me_link_leaves_no_token_in_any_log(web):
    token = report_link_token(alert=SimpleNamespace(pk=987654))

    status, headers = get(web.port, f"/audit/not-me/{token}/")

    # An alert that doesn't exist: the page says the link is no good, and Django logs the 400.
    assert status == 400
    text, lines = log_once_written(web, f'"request_id": "{headers["x-request-id"]}"}}')
    assert token not in text
    assert token.split(":")[-1] not in text
    refusal = next(line for line in lines if line["logger"] == "django.request")
    assert refusal["message"] == "Bad Request: /audit/not-me/[redacted]/"
    assert refusal["level"] == "WARNING"


def test_single_sign_on_query_secrets_are_redacted(web):
    _, headers = get(web.port, "/accounts/login/?code=SPLENDIDCODE123&state=STATEVALUE9&next=/mfa/")

    text, _ = log_once_written(web, f'"request_id": "{headers["x-request-id"]}"}}')
    assert "SPLENDIDCODE123" not in text
    assert "STATEVALUE9" not in text
    assert "code=[redacted]&state=[redacted]&next=/mfa/" in text
