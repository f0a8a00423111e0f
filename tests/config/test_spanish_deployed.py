"""A site deployed the README's way speaks Spanish: the Procfile's `release` line, then its `web`
line, as they are written, from a checkout whose catalogue was never compiled (`*.mo` files are
not committed), then a browser asking for Spanish."""

import os
import shutil
import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
COMPILED = BASE_DIR / "locale" / "es" / "LC_MESSAGES" / "django.mo"
# Portcullis's own words on the sign-in page (Django's admin says "¿Ha olvidado la contraseña?").
FORGOT_PASSWORD_ES = "¿Has olvidado tu contraseña?"


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


def get_in_spanish(port: int, path: str) -> tuple[int, str]:
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept-Language": "es"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def uncompiled_checkout(tmp_path):
    """The checkout as a deploy gets it: no compiled catalogue. The one the suite compiled is
    put back afterwards, whatever happened."""
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext's msgfmt is missing (Debian's gettext package)")
    kept = tmp_path / "django.mo"
    if COMPILED.exists():
        shutil.move(COMPILED, kept)
    try:
        yield
    finally:
        if kept.exists():
            COMPILED.unlink(missing_ok=True)
            shutil.move(kept, COMPILED)


def test_the_release_then_web_serve_portcullis_in_spanish(uncompiled_checkout, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MIGRATE_DATABASE_URL": "",
        "REDIS_URL": "",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "0",
    }
    release = subprocess.run(  # noqa: S602 - the Procfile's own line
        procfile_command("release"),
        shell=True,
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    log = tmp_path / "web.log"
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
                status, page = get_in_spanish(port, "/accounts/login/")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start: " + log.read_text())
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)

    assert status == 200
    assert '<html lang="es"' in page
    assert FORGOT_PASSWORD_ES in page
