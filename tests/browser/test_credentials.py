import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.accounts.helpers import link_in
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "fresh-granite-lantern-orbit"


def test_person_resets_their_password_through_the_emailed_link(
    page, live_server, settings, technician
):
    settings.SITE_URL = live_server.url
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill(technician.email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    (message,) = mail.outbox
    page.goto(link_in(message))
    expect(page).to_have_url(re.compile(r"/set-password/$"))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    sign_in_on_page(page, technician.email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_person_sees_the_lock_notice_after_too_many_wrong_passwords(page, technician):
    for _ in range(5):
        sign_in_on_page(page, technician.email, "wrong-password-123")

    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()


def test_person_changes_their_password(page, technician, password):
    sign_in_on_page(page, technician.email, password)
    page.get_by_role("link", name="Change password").click()

    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    technician.refresh_from_db()
    assert technician.check_password(NEW_PASSWORD)
