def test_healthz_reports_database_cache_and_broker(client, db, settings):
    settings.REDIS_URL = ""

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "broker": "in-process",
    }


def test_healthz_pings_a_real_redis_broker(client, db, settings, redis_url):
    settings.REDIS_URL = redis_url

    assert client.get("/healthz").json()["broker"] == "ok"


def test_healthz_stays_200_when_the_broker_is_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == "down"


def test_healthz_is_503_when_the_database_does_not_answer(client, db, monkeypatch):
    from django.db import DatabaseError
    from django.db.backends.utils import CursorWrapper

    def refuse(*args, **kwargs):
        raise DatabaseError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(CursorWrapper, "execute", refuse)
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "down"
