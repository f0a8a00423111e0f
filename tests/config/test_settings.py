"""Settings come from the environment; each case starts a fresh interpreter to read them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_KEY = "k7#Qz!v9@Lm2$Xw8&Rt5^Pb1*Nc4(Hd6)Fj3_Gs0+Ye7=Ua2-Io9~Kl5%Mn8"
PRINT_SETTINGS = """
import django, json
django.setup()
from django.conf import settings
from config.celery import app
print(json.dumps({
    "cache": settings.CACHES["default"]["BACKEND"],
    "sessions": settings.SESSION_ENGINE,
    "broker": app.conf.broker_url,
    "eager": app.conf.task_always_eager,
    "database": settings.DATABASES["default"]["ENGINE"],
    "hosts": settings.ALLOWED_HOSTS,
    "site_url": settings.SITE_URL,
    "lockout": [settings.LOCKOUT_FAILURES, settings.LOCKOUT_MINUTES, settings.LOCKOUT_IP_FAILURES],
    "reset_limits": [settings.RESET_LIMIT_PER_ACCOUNT, settings.RESET_LIMIT_PER_IP],
    "reset_timeout": settings.PASSWORD_RESET_TIMEOUT,
    "secure_cookies": settings.SESSION_COOKIE_SECURE,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "first_hasher": settings.PASSWORD_HASHERS[0],
}))
"""


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SECRET_KEY",
            "DEBUG",
            "USE_TLS",
            "REDIS_URL",
            "DATABASE_URL",
            "ALLOWED_HOSTS",
            "SITE_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "FIELD_ENCRYPTION_KEY",
            "BREACHED_PASSWORDS_URL",
            "AUDIT_SYSLOG_URL",
        }
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", **environment)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def read_settings(**environment: str) -> dict:
    result = run_python(PRINT_SETTINGS, **environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_secret_key():
    result = run_python("import django; django.setup()")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_defaults_match_the_interface_table():
    values = read_settings(DEBUG="1")

    assert values["database"] == "django.db.backends.sqlite3"
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["sessions"] == "teams.session_db"
    assert values["broker"] == "memory://"
    assert values["eager"] is True
    assert values["hosts"] == ["localhost", "127.0.0.1"]
    assert values["site_url"] == "http://localhost:8000"
    assert values["lockout"] == [5, 15.0, 50]
    assert values["reset_limits"] == [5, 20]
    assert values["reset_timeout"] == 3600
    assert values["secure_cookies"] is False
    assert values["first_hasher"] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_redis_url_switches_broker_cache_and_cached_sessions():
    values = read_settings(DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/3")

    assert values["cache"] == "config.cache.RedisCache"
    assert values["sessions"] == "teams.session_store"
    assert values["broker"] == "redis://127.0.0.1:6379/3"
    assert values["eager"] is False


def test_environment_overrides_are_read():
    values = read_settings(
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="portcullis.example,www.portcullis.example",
        SITE_URL="https://portcullis.example/",
        LOCKOUT_MINUTES="2.5",
        DATABASE_URL="postgres://app@db.internal:5432/portcullis",
    )

    assert values["hosts"] == ["portcullis.example", "www.portcullis.example"]
    assert values["site_url"] == "https://portcullis.example"
    assert values["lockout"][1] == 2.5
    assert values["database"] == "django.db.backends.postgresql"
    assert values["secure_cookies"] is True
    assert values["hsts"] == 31536000


CHECK_DEPLOY = (
    "import sys; from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
)
FIELD_KEY = "kS2w3Yh7l0m0m2Yb7lR8G3Q4bJ8c5pQm1x9wQe6Zt0s="


PRODUCTION_ENVIRONMENT = {
    "SECRET_KEY": PRODUCTION_KEY,
    "USE_TLS": "1",
    "ALLOWED_HOSTS": "portcullis.example",
    "SITE_URL": "https://portcullis.example",
    "FIELD_ENCRYPTION_KEY": FIELD_KEY,
    "BREACHED_PASSWORDS_URL": "https://api.pwnedpasswords.com/range/",
    "AUDIT_SYSLOG_URL": "tls://logs.portcullis.example:6514",
}


def test_check_deploy_is_clean_with_tls_on():
    result = run_python(CHECK_DEPLOY, **PRODUCTION_ENVIRONMENT)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "unset, warning",
    [("BREACHED_PASSWORDS_URL", "accounts.W001"), ("AUDIT_SYSLOG_URL", "audit.W001")],
)
def test_check_deploy_warns_without_the_breached_check_or_an_off_machine_audit_log(unset, warning):
    result = run_python(CHECK_DEPLOY, **{**PRODUCTION_ENVIRONMENT, unset: ""})

    assert result.returncode != 0
    assert warning in result.stderr + result.stdout


def test_check_deploy_asks_for_a_field_encryption_key_of_its_own():
    result = run_python(
        CHECK_DEPLOY,
        SECRET_KEY=PRODUCTION_KEY,
        USE_TLS="1",
        ALLOWED_HOSTS="portcullis.example",
        SITE_URL="https://portcullis.example",
    )

    assert result.returncode != 0
    assert "sso.W001" in result.stderr + result.stdout


def test_a_malformed_field_encryption_key_is_an_error():
    result = run_python(
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check'])",
        SECRET_KEY=PRODUCTION_KEY,
        FIELD_ENCRYPTION_KEY="not-a-fernet-key",
    )

    assert result.returncode != 0
    assert "sso.E001" in result.stderr + result.stdout


HOST_COOKIES = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.messages import get_messages
browser = Client()
response = browser.get("/accounts/login/", secure=True, HTTP_HOST="portcullis.example")
csrf = response.cookies[settings.CSRF_COOKIE_NAME]
switched = browser.post(
    "/i18n/setlang/", {"language": "es"}, secure=True, HTTP_HOST="portcullis.example"
)
language = switched.cookies[settings.LANGUAGE_COOKIE_NAME]
print(json.dumps({
    "names": [
        settings.SESSION_COOKIE_NAME,
        settings.CSRF_COOKIE_NAME,
        settings.REMEMBERED_BROWSER_COOKIE_NAME,
        settings.LANGUAGE_COOKIE_NAME,
        settings.REMEMBERED_TENANT_COOKIE_NAME,
        get_messages(response.wsgi_request).storages[0].cookie_name,
    ],
    "set": sorted(switched.cookies) + sorted(response.cookies),
    "status": response.status_code,
    "csrf": {"secure": csrf["secure"], "path": csrf["path"], "domain": csrf["domain"]},
    "language": {key: language[key] for key in ("secure", "path", "domain")},
}))
"""


def test_cookies_carry_the_host_prefix_under_tls_only():
    """`__Host-` cookies are refused by browsers unless Secure, for `/`, with no Domain."""
    # The sign-in page reads the tenants (whether any offers a passkey alone): a database of the
    # script's own, in memory.
    result = run_python(
        HOST_COOKIES,
        DATABASE_URL="sqlite://:memory:",
        SECRET_KEY=PRODUCTION_KEY,
        USE_TLS="1",
        ALLOWED_HOSTS="portcullis.example",
        SITE_URL="https://portcullis.example",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["names"] == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "__Host-remembered_browser",
        "__Host-django_language",
        "__Host-portcullis_tenant",
        "__Host-messages",
    ]
    assert values["set"] == ["__Host-django_language", "__Host-csrftoken"]
    assert values["status"] == 200
    assert values["csrf"] == {"secure": True, "path": "/", "domain": ""}
    assert values["language"] == {"secure": True, "path": "/", "domain": ""}

    plain = run_python(
        HOST_COOKIES.replace("secure=True", "secure=False"),
        DATABASE_URL="sqlite://:memory:",
        SECRET_KEY=PRODUCTION_KEY,
        USE_TLS="0",
        ALLOWED_HOSTS="portcullis.example",
    )
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["names"] == [
        "sessionid",
        "csrftoken",
        "remembered_browser",
        "django_language",
        "portcullis_tenant",
        "messages",
    ]


def test_production_refuses_to_start_without_an_audit_chain_key():
    result = run_python(
        "import django; django.setup()", SECRET_KEY=PRODUCTION_KEY, AUDIT_CHAIN_KEY=""
    )

    assert result.returncode != 0
    assert "AUDIT_CHAIN_KEY is not set" in result.stderr


def test_a_local_run_derives_its_audit_chain_key_from_the_secret_key():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.AUDIT_CHAIN_KEY)"
    )
    first = run_python(code, DEBUG="1", SECRET_KEY=PRODUCTION_KEY, AUDIT_CHAIN_KEY="")
    other = run_python(code, DEBUG="1", SECRET_KEY=PRODUCTION_KEY + "x", AUDIT_CHAIN_KEY="")

    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) == 64
    assert first.stdout != other.stdout
    assert PRODUCTION_KEY not in first.stdout
