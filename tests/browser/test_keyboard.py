"""Keyboard only: sign-in, the second step, enrolment and the access review, with Tab, typing,
Space and Enter, never the mouse. Focus must reach every control in order and show where it is."""

import re
from base64 import b32decode
from datetime import UTC, datetime

import pytest
import time_machine
from django_otp.oath import totp
from playwright.sync_api import expect

from tests.mfa.helpers import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_TABS = 60


def focused_name(page) -> str:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el) return "";
            const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
            const name = el.getAttribute("aria-label") || label || el.innerText || el.value;
            return (name || "").trim();
        }"""
    )


def tab_to(page, name: str | re.Pattern) -> None:
    """Press Tab until the focused control is called `name`; fail if it is never reached."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        current = focused_name(page)
        if name.search(current) if isinstance(name, re.Pattern) else current == name:
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{name!r} has focus but shows no focus ring"
            return
    pytest.fail(f"Tab never reached {name!r}")


def sign_in_by_keyboard(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.keyboard.type(email)  # the email box has focus when the page opens
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def test_sign_in_and_second_step_by_keyboard(page, user_with_totp, password):
    sign_in_by_keyboard(page, user_with_totp.email, password)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()

    page.keyboard.type(totp_code(user_with_totp))  # the code box has focus
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused_name(page) == "Skip to content"


def test_enrolment_by_keyboard(page, technician, password):
    with time_machine.travel(datetime.now(tz=UTC), tick=True):
        sign_in_by_keyboard(page, technician.email, password)
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        tab_to(page, "Two-factor")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        tab_to(page, "Set up an authenticator app")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")

        page.keyboard.type(f"{totp(b32decode(secret)):06d}")  # the code box has focus
        page.keyboard.press("Enter")

        expect(page.get_by_role("heading", name="Save your backup codes")).to_be_visible()
        expect(page.get_by_text("Your authenticator app is set up")).to_be_visible()
        tab_to(page, "I've saved my codes, continue")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()


def test_access_review_bulk_action_by_keyboard(page, owner, technician, password):
    sign_in_by_keyboard(page, owner.email, password)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    tab_to(page, "Access review")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Access review", exact=True)).to_be_visible()
    page.wait_for_load_state()

    tab_to(page, f"Select {technician.email}")
    page.keyboard.press("Space")
    tab_to(page, "With the people ticked")
    page.keyboard.type("Revoke")
    tab_to(page, "Continue…")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Revoke all sessions?")).to_be_visible()
    tab_to(page, "Yes, revoke all sessions")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Access review", exact=True)).to_be_visible()
    expect(page.locator(".messages")).to_contain_text(technician.email)
