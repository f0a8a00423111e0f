from datetime import UTC, datetime

import time_machine
from django.test import Client

from audit.events import AuditEventType
from audit.services import audit_event_record
from tests.audit.helpers import CHROME_WINDOWS, FIREFOX_LINUX, FROM_THE_OFFICE, SAFARI_IPHONE
from tests.factories import UserFactory
from tests.signing_in import fail_sign_in, sign_in

LOGINS = "/audit/logins/"


def test_history_lists_successes_and_failures_in_words(technician):
    with time_machine.travel(datetime(2026, 5, 4, 7, 30, 15, tzinfo=UTC), tick=False):
        fail_sign_in(
            Client(), technician.email, REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT=CHROME_WINDOWS
        )
    client = sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)

    response = client.get(LOGINS)

    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "Sign-in succeeded" in page
    assert "Sign-in failed" in page
    assert "198.51.100.5" in page
    assert "Chrome on Windows" in page
    assert "Firefox on Linux" in page
    assert 'datetime="2026-05-04T07:30:15+00:00"' in page
    assert ">4 May 2026, 07:30 UTC</time>" in page
    assert "/static/js/site." in page


def test_history_flags_unusual_sign_ins(technician):
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    client = sign_in(
        Client(), technician, REMOTE_ADDR="203.0.113.99", HTTP_USER_AGENT=SAFARI_IPHONE
    )

    page = client.get(LOGINS).content.decode()

    assert page.count("Unusual: new device and network") == 1
    assert "Mobile Safari on iOS" in page


def test_history_shows_only_ones_own_account(technician, tenant):
    colleague = UserFactory(tenant=tenant, email="colleague@northwind.example")
    fail_sign_in(
        Client(), colleague.email, REMOTE_ADDR="198.51.100.77", HTTP_USER_AGENT=CHROME_WINDOWS
    )
    audit_event_record(
        event=AuditEventType.PERSON_INVITED, actor=None, tenant=tenant, target=technician
    )
    client = sign_in(Client(), technician, **FROM_THE_OFFICE)

    page = client.get(LOGINS).content.decode()

    assert "198.51.100.77" not in page
    assert "Person invited" not in page


def test_history_is_paginated_and_survives_junk_page_numbers(technician, tenant):
    for _ in range(30):
        audit_event_record(
            event=AuditEventType.SIGN_IN_FAILED, actor=None, tenant=tenant, target=technician
        )
    client = sign_in(Client(), technician, **FROM_THE_OFFICE)

    first = client.get(LOGINS).content.decode()
    assert "Page 1 of 2" in first
    assert 'href="?page=2"' in first
    for junk in ("2", "999999999999999999999", "-3", "x", ""):
        assert client.get(LOGINS, {"page": junk}).status_code == 200
    assert "Page 2 of 2" in client.get(LOGINS, {"page": "999999"}).content.decode()
