"""With Redis configured but down, people still sign in and use the site (SECURITY.md, Faults)."""

import pytest

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.SESSION_ENGINE = "teams.session_store"
    settings.REDIS_URL = DEAD_REDIS


def test_sign_in_pages_and_sign_out_work_with_redis_down(redis_down, client, technician, password):
    response = client.post("/accounts/login/", {"username": technician.email, "password": password})
    assert response.status_code == 302

    assert client.get("/").status_code == 200
    assert client.get("/accounts/password/change/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_passwords_still_lock_with_redis_down(redis_down, client, technician, settings):
    for _ in range(settings.LOCKOUT_FAILURES):
        client.post("/accounts/login/", {"username": technician.email, "password": "wrong-guess-1"})

    response = client.post(
        "/accounts/login/",
        {"username": technician.email, "password": "correct-horse-battery-staple"},
    )

    assert response.status_code == 429


def test_healthz_reports_cache_and_broker_down_but_answers(redis_down, client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["cache"] == "down"
    assert response.json()["broker"] == "down"
