import os
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.celery import app as celery_app
from teams import scopes
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(message: str) -> None:
    """In CI a missing service is a failure; on a laptop without it the test is skipped."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests empty every table with TRUNCATE, which the audit log refuses on
    PostgreSQL. In the test database alone that one trigger is off; the test of it switches it
    back on inside its own transaction."""
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_truncate"
                )


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


@pytest.fixture
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
    TOTPDevice.objects.create(user=technician, name="Authenticator app", confirmed=True)
    return technician


@pytest.fixture
def client_signed_in(client, technician, password):
    response = client.post("/accounts/login/", {"username": technician.email, "password": password})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def sign_in(password):
    """A fresh browser (its own cookies) signed in as `user` through the real sign-in page."""

    def sign_in(user, **extra) -> Client:
        client = Client()
        response = client.post(
            "/accounts/login/", {"username": user.email, "password": password}, **extra
        )
        assert response.status_code == 302, response.content
        return client

    return sign_in


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
