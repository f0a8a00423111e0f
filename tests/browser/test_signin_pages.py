"""The second step in its backup-code and passkey modes, the trail, and the access review on a
phone: each on a desktop and a phone, light and dark, one in Spanish, checked by axe-core
(no serious or critical violation) and for sideways scrolling. SAVE_SCREENSHOTS=1 writes the
pictures to docs/screenshots/signin-*.png."""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.browser.test_passkeys import register_passkey, sign_out, virtual_authenticator
from tests.factories import UserFactory
from tests.mfa.helpers import backup_codes_issue
from tests.signing_in import fail_sign_in, sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BLOCKING_IMPACTS = {"serious", "critical"}
LONG_EMAIL = "jonathan.somebody@northwind.example"


def look(page, name: str, tmp_path: Path, *, suffix: str = "") -> None:
    """Axe and the phone's width on every viewport and scheme; a screenshot of each."""
    axe = Axe()
    to_docs = os.environ.get("SAVE_SCREENSHOTS") == "1"
    problems = []
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for violation in axe.run(page).response["violations"]:
                if violation["impact"] in BLOCKING_IMPACTS:
                    problems.append(f"{name} {viewport} {scheme}: {violation['id']}")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if viewport == "phone" and overflow > 0:
                problems.append(f"{name} {scheme}: scrolls sideways by {overflow}px")
            path = (
                SCREENSHOTS if to_docs else tmp_path
            ) / f"{name}-{viewport}-{scheme}{suffix}.png"
            page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.emulate_media(color_scheme="light")
    assert not problems, problems


def test_second_step_in_backup_code_mode_then_codes_left(
    new_page, user_with_totp, password, tmp_path
):
    codes = backup_codes_issue(user_with_totp)
    user_with_totp.tenant.remember_browser_days = 30
    user_with_totp.tenant.save()
    page = new_page()
    sign_in_on_page(page, user_with_totp.email, password)
    page.get_by_role("link", name="No phone with you? Use a backup code").click()

    expect(page.get_by_role("heading", name="Enter a backup code")).to_be_visible()
    expect(page.get_by_text("Codes follow your phone's clock")).to_have_count(0)
    expect(page.get_by_label("Don't ask for a code on this browser", exact=False)).to_have_count(0)
    look(page, "signin-second-step-backup", tmp_path)
    page.get_by_role("textbox", name="Backup code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_text("You used a backup code: 9 are left")).to_be_visible()


def test_second_step_in_backup_code_mode_in_spanish(
    browser, live_server, user_with_totp, password, tmp_path
):
    backup_codes_issue(user_with_totp)
    context = browser.new_context(base_url=live_server.url, locale="es-ES")
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.locator("#id_username").fill(user_with_totp.email)
        page.locator("#id_password").fill(password)
        page.locator("#id_password").press("Enter")
        page.goto("/mfa/verify/?code=backup")
        expect(page.get_by_role("heading", name="Escribe un código de respaldo")).to_be_visible()
        look(page, "signin-second-step-backup", tmp_path, suffix="-es")
    finally:
        context.close()


def test_second_step_with_a_passkey(settings, live_server, page, technician, password, tmp_path):
    settings.SITE_URL = live_server.url  # the passkey's relying party: localhost
    virtual_authenticator(page)
    sign_in_on_page(page, technician.email, password)
    register_passkey(page)
    sign_out(page)
    sign_in_on_page(page, technician.email, password)

    expect(page.get_by_role("heading", name="Use your passkey")).to_be_visible()
    expect(page.get_by_text("You are signing in as")).to_have_count(1)
    button = page.get_by_role("button", name="Use your passkey").bounding_box()
    or_code = page.get_by_role("heading", name="Or type a code").bounding_box()
    assert or_code["y"] - (button["y"] + button["height"]) >= 24, "set apart from the button"
    look(page, "signin-second-step-passkey", tmp_path)


def test_trail_shows_how_and_from_where(page, owner, technician, password, tmp_path):
    fail_sign_in(Client(), technician.email, REMOTE_ADDR="198.51.100.5")
    sign_in_on_page(page, owner.email, password)
    page.goto("/audit/")

    expect(page.locator("td[data-label='IP address']").first).to_be_visible()
    expect(page.locator(".badge-danger", has_text="Sign-in failed")).to_be_visible()
    expect(page.locator(".sign-in-method").first).to_be_visible()
    look(page, "signin-trail", tmp_path)


def test_access_review_on_a_phone(page, owner, tenant, password, tmp_path):
    UserFactory(tenant=tenant, email=LONG_EMAIL)
    sign_in_on_page(page, owner.email, password)
    page.goto("/access-review/")
    look(page, "signin-access-review-390", tmp_path)
    page.set_viewport_size(VIEWPORTS["phone"])

    row = page.locator(f"tr[data-email='{LONG_EMAIL}']")
    label_column_ends = row.locator("td[data-label='Person']").bounding_box()["x"] + 100
    for cell in row.locator("td[data-label] > div").all():
        assert cell.bounding_box()["x"] > label_column_ends, "a line fell under the label"
    # The email wraps before its @ only: neither half is split.
    lines = row.locator(".hint", has_text="@").evaluate(
        """span => Array.from(span.childNodes).filter(node => node.nodeType === 3).map(node => {
             const range = document.createRange(); range.selectNodeContents(node);
             const tops = Array.from(range.getClientRects(), rect => Math.round(rect.top));
             return new Set(tops).size; })"""
    )
    assert lines == [1, 1]
