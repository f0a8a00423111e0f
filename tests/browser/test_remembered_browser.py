"""'Don't ask for a code on this browser' in Chromium: it skips the second step only in the
browser that ticked it, and stops after "forget" and after a password change. The second step
and the sessions page are photographed into docs/screenshots/ when SAVE_SCREENSHOTS=1."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from playwright.sync_api import expect

from tests.mfa.helpers import totp_code
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a brand new passphrase for the browser"
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def photograph(page, name: str, tmp_path: Path) -> None:
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(folder / name), full_page=True)


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").first.click()


def test_a_remembered_browser_skips_the_code_until_forgotten_or_the_password_changes(
    new_page, user_with_totp, password, tmp_path
):
    laptop, other = new_page(), new_page()
    with time_machine.travel(datetime.now(tz=UTC), tick=True) as clock:
        sign_in_on_page(laptop, user_with_totp.email, password)
        laptop.get_by_label("Code from your app").fill(totp_code(user_with_totp))
        laptop.get_by_label("Don't ask for a code on this browser for 7 days").check()
        photograph(laptop, "remember-this-browser.png", tmp_path)
        laptop.get_by_role("button", name="Verify").click()
        expect(laptop.get_by_role("heading", name="Your account")).to_be_visible()
        sign_out(laptop)

        sign_in_on_page(laptop, user_with_totp.email, password)
        expect(laptop.get_by_role("heading", name="Your account")).to_be_visible()
        sign_in_on_page(other, user_with_totp.email, password)
        expect(other.get_by_role("heading", name="Enter your code")).to_be_visible()

        laptop.goto("/accounts/sessions/")
        browsers = laptop.get_by_role("region", name="Remembered browsers")
        expect(browsers.get_by_text("This browser", exact=True)).to_be_visible()
        photograph(laptop, "remembered-browsers.png", tmp_path)
        browsers.get_by_role("button", name="Forget", exact=True).click()
        expect(laptop.get_by_text("Forgot 1 browser")).to_be_visible()
        sign_out(laptop)
        sign_in_on_page(laptop, user_with_totp.email, password)
        expect(laptop.get_by_role("heading", name="Enter your code")).to_be_visible()

        clock.shift(30)
        laptop.get_by_label("Code from your app").fill(totp_code(user_with_totp))
        laptop.get_by_label("Don't ask for a code on this browser for 7 days").check()
        laptop.get_by_role("button", name="Verify").click()
        laptop.goto("/accounts/password/change/")
        laptop.get_by_label("Current password").fill(password)
        laptop.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        laptop.get_by_label("New password again").fill(NEW_PASSWORD)
        laptop.get_by_role("button", name="Change password").click()
        sign_out(laptop)
        sign_in_on_page(laptop, user_with_totp.email, NEW_PASSWORD)
        expect(laptop.get_by_role("heading", name="Enter your code")).to_be_visible()
