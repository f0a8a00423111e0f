import re
from base64 import b32decode
from datetime import UTC, datetime

import pytest
import time_machine
from django_otp.oath import totp
from playwright.sync_api import expect

from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def app_code(secret: str) -> str:
    """What an authenticator app shows for a key typed in by hand."""
    return f"{totp(b32decode(secret.replace(' ', ''))):06d}"


def test_person_enrols_an_app_from_the_page_then_signs_in_with_its_code(page, technician, password):
    with time_machine.travel(datetime.now(tz=UTC), tick=True) as clock:
        sign_in_on_page(page, technician.email, password)
        page.get_by_role("link", name="Manage").click()
        page.get_by_role("link", name="Set up an authenticator app").click()
        expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        secret = page.locator("#totp-secret").inner_text()

        page.get_by_label("Code from the app").fill(app_code(secret))
        page.get_by_role("button", name="Confirm").click()

        expect(page.get_by_role("heading", name="Save your backup codes")).to_be_visible()
        expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(
            10
        )
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as a text file").click()
        assert download.value.suggested_filename == "portcullis-backup-codes.txt"
        page.get_by_role("link", name="I've saved my codes, continue").click()
        expect(page.get_by_text("Replace with a new app")).to_be_visible()
        page.get_by_role("button", name="Sign out").first.click()

        clock.shift(30)  # the code used to confirm is spent; the app shows the next one
        sign_in_on_page(page, technician.email, password)
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        expect(page.get_by_text("UTC")).to_be_visible()
        page.goto("/")
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        page.get_by_label("Code from your app").fill(app_code(secret))
        page.get_by_role("button", name="Verify").click()

        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.get_by_text("On", exact=True)).to_be_visible()


def test_person_signs_in_with_a_backup_code(page, user_with_totp, password):
    codes = backup_codes_issue(user_with_totp)

    sign_in_on_page(page, user_with_totp.email, password)
    page.get_by_label("Code from your app").fill(codes[0].upper())
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("button", name="Sign out").first.click()
    sign_in_on_page(page, user_with_totp.email, password)
    page.get_by_label("Code from your app").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert").or_(page.locator(".field-error"))).to_contain_text(
        "didn't work"
    )
