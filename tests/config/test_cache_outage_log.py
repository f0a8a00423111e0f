"""Redis going away is one WARNING in each process's log and coming back one INFO: not a line,
let alone a traceback, per request (config/cache.py, teams/session_store.py)."""

import logging
import socket
import subprocess
import time

import pytest
import redis
from django.test import Client

from tests.signing_in import sign_in

pytestmark = pytest.mark.django_db


class OwnRedis:
    """A redis-server of the test's own, on a free loopback port, to stop and start again (the
    shared one is never stopped)."""

    def __init__(self, folder) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own server, on loopback only
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        until = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < until, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    try:
        server.start()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    yield server
    server.stop()


@pytest.fixture
def sessions_in_own_redis(own_redis, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": own_redis.url,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    settings.SESSION_ENGINE = "teams.session_store"
    return own_redis


def test_redis_going_away_logs_one_warning_and_coming_back_one_info(
    sessions_in_own_redis, technician, caplog
):
    browser = sign_in(Client(), technician)
    assert browser.get("/").status_code == 200
    caplog.set_level(logging.INFO)
    caplog.clear()

    sessions_in_own_redis.stop()
    # Pages read sessions, a sign-in writes one, a sign-out deletes one: all while it is away.
    for _ in range(5):
        assert browser.get("/").status_code == 200
    newcomer = sign_in(Client(), technician)
    assert newcomer.get("/").status_code == 200
    assert newcomer.post("/accounts/logout/").status_code == 302
    sessions_in_own_redis.start()
    assert browser.get("/").status_code == 200
    assert browser.get("/").status_code == 200

    said = [
        (record.name, record.levelname)
        for record in caplog.records
        if record.levelno >= logging.WARNING or record.name == "config.cache"
    ]
    assert said == [("config.cache", "WARNING"), ("config.cache", "INFO")]
    assert "Error saving to cache" not in caplog.text
    assert "Traceback" not in caplog.text
