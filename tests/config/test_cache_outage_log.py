"""Redis going away is one WARNING in each process's log and coming back one INFO: not a line,
let alone a traceback, per request (config/cache.py, teams/session_store.py)."""

import logging

import pytest
from django.test import Client

from tests.own_redis import OwnRedis
from tests.signing_in import sign_in

pytestmark = pytest.mark.django_db


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
            "LOCATION": own_redis.url(),
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
