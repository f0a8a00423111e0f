import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.audit.helpers import FIREFOX_LINUX
from tests.signing_in import sign_in, sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UTC_TEXT = re.compile(r"^\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC$")


def test_unusual_sign_in_is_flagged_for_the_person_and_found_by_the_owner(
    browser, live_server, settings, technician, owner, password
):
    settings.TRUSTED_PROXY_COUNT = 1
    # Until now the technician has only used Firefox on Linux at the office.
    sign_in(Client(), technician, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT=FIREFOX_LINUX)
    elsewhere = browser.new_context(
        base_url=live_server.url, extra_http_headers={"X-Forwarded-For": "203.0.113.50"}
    )
    office = browser.new_context(
        base_url=live_server.url,
        extra_http_headers={"X-Forwarded-For": "192.0.2.20"},
        locale="en-US",
        timezone_id="Asia/Tokyo",
    )
    try:
        page = elsewhere.new_page()
        sign_in_on_page(page, technician.email, password)
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        page.get_by_role("link", name="Sign-in history").click()

        expect(page.get_by_role("heading", name="Your sign-in history")).to_be_visible()
        flagged = page.locator("tr.row-flagged")
        expect(flagged).to_have_count(1)
        expect(flagged).to_contain_text("Unusual: new device and network")
        expect(flagged).to_contain_text("203.0.113.50")
        expect(page.get_by_text("Firefox on Linux")).to_be_visible()
        expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)

        owner_page = office.new_page()
        sign_in_on_page(owner_page, owner.email, password)
        expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()
        owner_page.get_by_role("link", name="Audit trail").click()
        owner_page.get_by_label("Event").select_option(label="Unusual sign-in")
        owner_page.get_by_role("button", name="Filter").click()

        expect(owner_page).to_have_url(
            f"{live_server.url}/audit/?event=105&outcome=&person=&ip=&since=&until="
        )
        rows = owner_page.locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Unusual sign-in")
        expect(rows).to_contain_text(technician.email)
        expect(rows).to_contain_text("203.0.113.0/24")
        # The time is shown in the reader's own zone, with UTC a tap away (no hover on phones).
        when = rows.locator("time").first
        expect(when).to_contain_text("GMT+9")
        rows.locator(".when-toggle").first.click()
        expect(when).to_have_text(UTC_TEXT)
    finally:
        elsewhere.close()
        office.close()
