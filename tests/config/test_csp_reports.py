"""The Content Security Policy's report endpoint: both report formats become one WARNING line
each on `config.csp_reports`; whatever else is posted is refused without a 500."""

import json
import logging

import pytest
from django.test import Client

REPORTS = "/csp-report/"
LOGGER = "config.csp_reports"

CSP_REPORT = {
    "csp-report": {
        "document-uri": "https://portcullis.example/accounts/login/?next=/admin/",
        "blocked-uri": "https://evil.example/x.js?token=abc",
        "effective-directive": "script-src-elem",
        "disposition": "enforce",
        "source-file": "https://portcullis.example/static/js/site.js",
        "line-number": 12,
        "column-number": 3,
        "script-sample": "alert(document.cookie)",
    }
}
REPORTS_JSON = [
    {
        "type": "csp-violation",
        "url": "https://portcullis.example/",
        "body": {
            "documentURL": "https://portcullis.example/mfa/",
            "blockedURL": "inline",
            "effectiveDirective": "style-src-attr",
            "disposition": "enforce",
            "sample": "color: red",
        },
    },
    {"type": "deprecation", "body": {"id": "x"}},
]


def report_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def post(client: Client, body, content_type: str):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(REPORTS, data, content_type=content_type)


def test_a_report_uri_report_is_logged_as_one_warning_without_query_or_sample(db, caplog):
    client = Client(enforce_csrf_checks=True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = post(client, CSP_REPORT, "application/csp-report")

    assert response.status_code == 204
    [line] = report_lines(caplog)
    assert "script-src-elem" in line
    assert "https://evil.example/x.js" in line
    assert "https://portcullis.example/accounts/login/" in line
    assert "site.js:12:3" in line
    assert "token" not in line
    assert "next=" not in line
    assert "alert" not in line
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == ["WARNING"]


def test_a_reporting_api_batch_logs_its_csp_violations_only(db, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = post(Client(), REPORTS_JSON, "application/reports+json")

    assert response.status_code == 204
    [line] = report_lines(caplog)
    assert "style-src-attr" in line
    assert "https://portcullis.example/mfa/" in line
    assert "color" not in line


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("not json", "application/csp-report", 400),
        ("[1, 2, 3]", "application/csp-report", 400),
        ('{"csp-report": "text"}', "application/csp-report", 400),
        ("[" * 5_000 + "]" * 5_000, "application/reports+json", 400),
        ('[{"type": "deprecation", "body": {}}]', "application/reports+json", 400),
        (b"\xff\xfe", "application/reports+json", 400),
        ('{"csp-report": {}}', "text/plain", 415),
        ('{"csp-report": {}}', "application/json", 415),
        (json.dumps({"csp-report": {"blocked-uri": "x" * 20_000}}), "application/csp-report", 413),
    ],
)
def test_junk_is_refused_without_a_log_line_or_a_500(db, caplog, body, content_type, status):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        response = post(Client(), body, content_type)

    assert response.status_code == status
    assert report_lines(caplog) == []


def test_only_post_is_accepted(client, db):
    assert client.get(REPORTS).status_code == 405


def test_reports_over_the_minutes_budget_are_dropped_with_one_line_saying_so(
    db, caplog, settings, time_machine
):
    settings.CSP_REPORTS_PER_MINUTE = 2
    time_machine.move_to("2026-03-02 09:00:00Z", tick=False)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        statuses = [
            post(Client(), CSP_REPORT, "application/csp-report").status_code for _ in range(5)
        ]

    assert statuses == [204] * 5
    lines = report_lines(caplog)
    assert len(lines) == 3
    assert "the rest are dropped" in lines[-1]
