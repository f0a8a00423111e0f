"""The site as real processes for the tests that need them (tests/config/test_load.py,
tests/config/test_two_nodes.py): gunicorn and Celery on the test database and the test Redis,
and browsers that speak to them over loopback.

Each browser speaks from its own address through `X-Forwarded-For` (the processes trust one
proxy), as people behind one MSP's proxy would, so per-address counts keep them apart.
"""

import os
import socket
import subprocess
import sys
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Browser:
    """One person's browser: its own address and cookies, a new connection per request (sync
    workers close it), sent to the port the test names."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.cookies: dict[str, str] = {}
        self.statuses: Counter[int] = Counter()

    def request(
        self, port: int, method: str, path: str, data: dict | None = None
    ) -> tuple[int, str, bytes]:
        """Status, `Location` and body of one request; cookies set are kept, cleared ones go."""
        headers = {
            "X-Forwarded-For": self.ip,
            "Cookie": "; ".join(f"{key}={value}" for key, value in self.cookies.items()),
        }
        body = None
        if data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        http = HTTPConnection("127.0.0.1", port, timeout=60)
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

    def sign_in(self, port: int, email: str, password: str) -> int:
        """The sign-in page, then its form posted: the POST's status."""
        self.request(port, "GET", "/accounts/login/")
        status, _, _ = self.request(
            port, "POST", "/accounts/login/", {"username": email, "password": password}
        )
        return status


def site_env(redis_url: str, **settings_env: str) -> dict[str, str]:
    """The environment of a process serving the test database pytest-django made (where a
    transactional test's rows are committed) and the test Redis, behind one trusted proxy."""
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
        "LOG_LEVEL": "WARNING",
        **settings_env,
    }


class Processes:
    """Processes started for a test, each logging to `<folder>/<name>.log`, all stopped by
    `stop()` whatever happened."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, command: list[str], env: dict, **options) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("a")
        process = subprocess.Popen(  # noqa: S603 - our own processes, on loopback only
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, **options
        )
        self.started.append(process)
        return process

    def gunicorn(self, name: str, env: dict, *, workers: int) -> int:
        """gunicorn as the Procfile runs it, on a loopback port of its own, which it returns.

        The test opens the listening socket and hands it over, so a first request waits in the
        socket's queue until a gunicorn worker takes it: no polling for the server to come up.
        """
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.start(
                name,
                [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"fd://{listener.fileno()}"]
                + ["--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5"],
                env,
                pass_fds=[listener.fileno()],
            )
            port = listener.getsockname()[1]
        status, _, _ = Browser("127.0.0.1").request(port, "GET", "/healthz")
        assert status == 200, self.log(name)
        return port

    def celery(self, name: str, env: dict, *arguments: str) -> subprocess.Popen:
        """`celery -A config <arguments>`, as the Procfile's worker and beat lines run it."""
        return self.start(name, [str(BIN / "celery"), "-A", "config", *arguments], env)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
