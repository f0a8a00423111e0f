"""With Redis configured but down, people still sign in and use the site (SECURITY.md, Faults)."""

import pytest
import time_machine
from django.core import mail

from accounts.tasks import sweep_password_reset_requests
from outbox.models import OutboxMail
from outbox.services import mail_enqueue
from outbox.tasks import sweep_outbox
from tests.signing_in import sign_in, sign_in_attempt

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


def test_sign_in_pages_and_sign_out_work_with_redis_down(redis_down, client, technician):
    sign_in(client, technician)

    assert client.get("/").status_code == 200
    assert client.get("/accounts/password/change/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_passwords_still_lock_with_redis_down(redis_down, client, technician, settings):
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(client, technician.email, "wrong-guess-1")

    response = sign_in_attempt(client, technician.email, "correct-horse-battery-staple")

    assert response.status_code == 429


def test_healthz_reports_cache_and_broker_down_but_answers(redis_down, client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["cache"] == "down"
    assert response.json()["broker"] == "down"


@pytest.mark.usefixtures("redis_down")
def test_reset_asked_with_redis_down_is_accepted_and_mailed_once_when_it_returns(
    broker_down, django_capture_on_commit_callbacks, client, technician
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password/reset/", {"email": technician.email})

    assert response.status_code == 302
    # Redis refused every connection at once (the cache's and the broker's alike), and the
    # publisher gave up without a pause: nothing waited for Redis.
    assert broker_down.connection_attempts > 0
    assert broker_down.pauses == []
    assert mail.outbox == []

    # Redis is back: the beat sweeps pick up what the request could not queue.
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            sweep_password_reset_requests.apply()
        sweep_outbox.apply()

    assert [message.to for message in mail.outbox] == [[technician.email]]


def test_mail_waits_in_the_outbox_while_smtp_is_down_and_goes_out_once(
    db, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    with django_capture_on_commit_callbacks(execute=True):
        queued = mail_enqueue(to="tess@example.com", kind="backup_codes_regenerated", context={})
    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.PENDING
    assert queued.attempts == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(queued.next_attempt_at, tick=False):
        sweep_outbox.apply()
        sweep_outbox.apply()

    queued.refresh_from_db()
    assert queued.status == OutboxMail.Status.SENT
    assert len(mail.outbox) == 1
