import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import kombu.utils.functional
import pytest
import redis
import time_machine
from django.conf import settings as django_settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings

from config.celery import app as celery_app
from teams import scopes
from tests.audit.helpers import NO_TRUNCATE_TRIGGERS_OFF
from tests.factories import DEFAULT_PASSWORD, TenantFactory, TOTPDeviceFactory, UserFactory
from tests.range_server import RangeServer
from tests.signing_in import VERIFY, sign_in

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The suite derives its audit chain key from SECRET_KEY (config/settings.py); the servers and
# commands it starts run without DEBUG too, so they are handed the same key.
os.environ.setdefault("AUDIT_CHAIN_KEY", django_settings.AUDIT_CHAIN_KEY)
# The suite's people live under .example and .test (RFC 2606), which production refuses; the
# servers and commands it starts get the same setting through the environment.
os.environ.setdefault("EMAIL_ALLOW_TEST_DOMAINS", "1")
# Ten seconds into a 30-second step, so a test's own requests never cross into the next step.
MID_STEP = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
DEAD_BROKER_URL = "redis://127.0.0.1:1/0"
DEAD_BROKER_ADDRESS = ("127.0.0.1", 1)
# Far more connections than any publish retry policy here makes: a publisher still connecting
# after these retries for ever, and the test fails instead of hanging.
MOST_BROKER_CONNECTIONS = 50


def service_missing(message: str) -> None:
    """In CI a missing service is a failure; on a laptop without it the test is skipped."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests empty every table with TRUNCATE, which the audit log refuses on
    PostgreSQL. In the test database alone that one trigger is off (on the table and its
    months); the test of it switches it back on inside its own transaction."""
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(NO_TRUNCATE_TRIGGERS_OFF)


@pytest.fixture(scope="session", autouse=True)
def collected_static_files():
    """Collect the static files when STATIC_ROOT has none yet, or older copies.

    Pages name their stylesheet and script through the manifest storage, and WhiteNoise (or the
    gunicorn a test starts) serves them from STATIC_ROOT, as in production: so the header, CSP
    and static-file tests check what production serves, and any one test file runs without a
    `collectstatic` first.
    """
    manifest_name = getattr(staticfiles_storage, "manifest_name", None)
    if manifest_name is None:
        return  # plain storage: files are served as they are
    manifest = Path(django_settings.STATIC_ROOT) / manifest_name
    sources = [
        path for folder in django_settings.STATICFILES_DIRS for path in Path(folder).rglob("*")
    ]
    if not manifest.exists() or any(
        path.stat().st_mtime > manifest.stat().st_mtime for path in sources
    ):
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def fast_password_hasher(request, settings):
    """Argon2 is deliberately slow; tests that are about hashing ask for `real_hashers`."""
    if "real_hashers" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def test_email_domains_allowed():
    """People's addresses may be under .example and .test here; the tests of that refusal
    switch it back off (with the `settings` fixture)."""
    with override_settings(EMAIL_ALLOW_TEST_DOMAINS=True):
        yield


@pytest.fixture(autouse=True)
def breached_password_check_off():
    """No test asks the internet: the breached-password check is off unless a test points it at
    the suite's own range server (`range_server`, tests/range_server.py). Not through the
    `settings` fixture: that would be undone only after `clean_cache` runs, under a test's own
    CACHES."""
    with override_settings(BREACHED_PASSWORDS_URL=""):
        yield


@pytest.fixture
def range_server(settings):
    """A breached-password range API on the loopback interface, switched on for the test."""
    server = RangeServer()
    settings.BREACHED_PASSWORDS_URL = server.start()
    settings.BREACHED_PASSWORDS_TIMEOUT = 2.0
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_cache():
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def tasks_in_process():
    """Tasks run in the test's own process unless a test starts a real worker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        service_missing(f"Redis is not answering at {url}: {error}")
    finally:
        client.close()
    return url


@dataclass
class DeadBroker:
    """What publishing did while the broker was down.

    `connection_attempts` counts every connection to the dead address (the cache's too, when a
    test points the cache there), and `pauses` are the seconds kombu's retry loop would have
    slept between attempts: recorded, not slept, as a fake clock would.
    """

    connection_attempts: int = 0
    pauses: list[float] = field(default_factory=list)


def _reset_publisher() -> None:
    """Make the next publish connect to the current broker URL (kombu keeps one connection pool
    per URL, so the previous URL's pool is simply no longer used)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down(monkeypatch):
    """Celery publishing to a broker that refuses connections, as when Redis is stopped.

    Yields a `DeadBroker`, so a test asserts how soon publishing gives up by what it tried, not
    by how long it took.
    """
    broker = DeadBroker()
    connect = socket.socket.connect

    def counted_connect(sock, address):
        if address == DEAD_BROKER_ADDRESS:
            broker.connection_attempts += 1
            if broker.connection_attempts > MOST_BROKER_CONNECTIONS:
                pytest.fail("publishing keeps retrying the dead broker and never gives up")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", counted_connect)
    monkeypatch.setattr(kombu.utils.functional, "sleep", broker.pauses.append)
    previous_url = celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = DEAD_BROKER_URL
    _reset_publisher()
    yield broker
    celery_app.conf.broker_url = previous_url
    celery_app.conf.task_always_eager = True
    _reset_publisher()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Northwind IT")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Contoso Support")


@pytest.fixture
def owner(tenant):
    return UserFactory(tenant=tenant, builtin=scopes.OWNER, email="owner@northwind.example")


@pytest.fixture
def technician(tenant):
    return UserFactory(tenant=tenant, email="tech@northwind.example", full_name="Tess Tech")


@pytest.fixture
def user_with_totp(technician):
    """The technician with a confirmed authenticator app (codes: `tests.mfa.helpers.totp_code`)."""
    TOTPDeviceFactory(user=technician)
    return technician


@pytest.fixture
def clock():
    """Time stands still at MID_STEP until the test moves it (`clock.shift(seconds)`)."""
    with time_machine.travel(MID_STEP, tick=False) as traveller:
        yield traveller


@pytest.fixture
def client_signed_in(client, technician):
    """The test client, signed in as the technician through the sign-in form."""
    return sign_in(client, technician)


@pytest.fixture
def half_signed_in(clock, user_with_totp) -> Client:
    """A browser past the password but not the second step, while time stands still."""
    client = sign_in(Client(), user_with_totp)
    assert client.get("/").url.startswith(VERIFY)
    return client


@pytest.fixture
def other_owner(other_tenant):
    return UserFactory(tenant=other_tenant, builtin=scopes.OWNER, email="owner@contoso.example")


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: runs when DATABASE_URL points at Postgres")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
