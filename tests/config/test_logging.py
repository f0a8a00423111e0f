"""The site's own log lines: request ids, the request's person, JSON fields, no URL secret."""

import json
import logging
import re
from pathlib import Path

import pytest

from audit.redaction import redact_secrets
from config.log_format import JsonLogFormatter, PlainLogFormatter, log_format_from_environment
from tests.signing_in import sign_in

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /accounts/reset/MQ/cb3k2x-5f1e0a9d8c7b6a5f4e3d2c1b0a9f8e7d/ HTTP/1.1",
            "GET /accounts/reset/MQ/[redacted]/ HTTP/1.1",
        ),
        ("/accounts/reset/MQ/set-password/", "/accounts/reset/MQ/set-password/"),
        ("/audit/not-me/12:1tX4Yz:abcDEF_ghi/", "/audit/not-me/[redacted]/"),
        (
            "/sso/callback/?code=abc&state=xyz&x=1",
            "/sso/callback/?code=[redacted]&state=[redacted]&x=1",
        ),
        ("code=abc&next=/", "code=[redacted]&next=/"),
        (
            "/static/css/site.3f2a9b1c4d5e6f7a8b9c0d1e.css",
            "/static/css/site.3f2a9b1c4d5e6f7a8b9c0d1e.css",
        ),
        ("/help/lost-your-authenticator-app/", "/help/lost-your-authenticator-app/"),
        ("/admin/teams/tenant/12/change/", "/admin/teams/tenant/12/change/"),
        # A tokened path nobody named yet is caught by its look.
        ("/invite/Zm9vYmFyYmF6cXV1eDEyMzQ1Njc4/", "/invite/[redacted]/"),
    ],
)
def test_url_secrets_are_redacted_and_the_rest_kept(text, expected):
    assert redact_secrets(text) == expected


def test_every_response_names_its_request_id(client, db):
    first = client.get("/accounts/login/")
    second = client.get("/accounts/login/")

    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_an_incoming_request_id_is_ignored_without_trusted_proxies(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 0

    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="chosen-by-the-client")

    assert response["X-Request-ID"] != "chosen-by-the-client"


def test_the_proxys_request_id_is_kept_behind_trusted_proxies(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    kept = client.get(
        "/accounts/login/", HTTP_X_REQUEST_ID="lb-7f3a", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    skipped_the_proxy = client.get("/accounts/login/", HTTP_X_REQUEST_ID="lb-7f3a")
    hostile = client.get(
        "/accounts/login/",
        HTTP_X_REQUEST_ID="x\nforged line",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )

    assert kept["X-Request-ID"] == "lb-7f3a"
    assert skipped_the_proxy["X-Request-ID"] != "lb-7f3a"
    assert "\n" not in hostile["X-Request-ID"]


def console_lines(caplog) -> list[str]:
    """The records as the site's console handler writes them: its filters, then its format."""
    console = next(
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler.formatter, JsonLogFormatter)
    )
    return [console.format(record) for record in caplog.records if console.filter(record)]


def json_lines(caplog) -> list[dict]:
    return [json.loads(line) for line in console_lines(caplog)]


def test_a_refused_page_is_logged_as_a_json_warning_with_the_person(client, technician, caplog):
    sign_in(client, technician)
    caplog.set_level(logging.WARNING, logger="django.request")

    response = client.get("/audit/")

    assert response.status_code == 403
    line = next(line for line in json_lines(caplog) if line["logger"] == "django.request")
    assert line["level"] == "WARNING"
    assert line["message"] == "Forbidden (Permission denied): /audit/"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] == technician.pk
    assert line["tenant_id"] == technician.tenant_id
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert "request" not in line


def test_a_missing_tokened_page_is_logged_without_its_token(client, db, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")

    client.get("/audit/not-me/1:1tX4Yz:abcDEFghiJKL/extra/")

    lines = console_lines(caplog)
    assert any("Not Found: /audit/not-me/[redacted]/extra/" in line for line in lines)
    assert not any("abcDEFghiJKL" in line for line in lines)


def test_log_format_defaults_to_plain_under_debug_and_json_otherwise():
    assert log_format_from_environment({"DEBUG": "1"}) == "plain"
    assert log_format_from_environment({"DEBUG": "0"}) == "json"
    assert log_format_from_environment({"DEBUG": "1", "LOG_FORMAT": "json"}) == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of json, plain"):
        log_format_from_environment({"LOG_FORMAT": "xml"})


def test_a_plain_line_reads_as_time_level_logger_and_message():
    record = logging.LogRecord(
        "accounts.services", logging.INFO, "x", 1, "Hello %s", ("you",), None
    )
    record.created = 0
    record.request_id = "abc"

    assert PlainLogFormatter().format(record) == (
        "1970-01-01T00:00:00.000Z INFO accounts.services [req abc] Hello you"
    )


LOGGER_DEFINITION = re.compile(r"""get_?[lL]ogger\((__name__|["']([\w.]+)["'])\)""")
SOURCE_FOLDERS_SKIPPED = {".venv", "var", "tests", "node_modules", ".git"}


def loggers_named_in_code() -> set[str]:
    """Every logger a module of the site's defines: `getLogger(__name__)` (Celery's
    `get_logger` too) by its module's name, `getLogger("name")` by that name."""
    names = set()
    for path in REPO.rglob("*.py"):
        relative = path.relative_to(REPO)
        if SOURCE_FOLDERS_SKIPPED.intersection(relative.parts):
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        for match in LOGGER_DEFINITION.finditer(path.read_text(encoding="utf-8")):
            names.add(module if match.group(1) == "__name__" else match.group(2))
    return names


def test_every_logger_in_the_code_is_in_the_logging_inventory():
    inventory = (REPO / "docs" / "logging.md").read_text(encoding="utf-8")

    named = loggers_named_in_code()

    assert {"sso.client", "config.beat", "accounts.validators"} <= named
    assert sorted(name for name in named if f"`{name}`" not in inventory) == []
