"""Access review and account recovery, clicked through in a browser; screenshots of the review
page and a help page (written to docs/screenshots/ when SAVE_SCREENSHOTS=1)."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from audit.events import AuditEventType
from audit.models import AuditEvent
from support.models import RecoveryRequest
from tests.factories import UserFactory
from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def screenshot(page, name: str, tmp_path: Path) -> Path:
    path = (SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path) / name
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes().startswith(b"\x89PNG")
    return path


def test_owner_reviews_access_and_deactivates_a_flagged_person(
    new_page, owner, technician, tenant, password, tmp_path
):
    stale = UserFactory(tenant=tenant, email="stale@northwind.example", full_name="Stan Stale")
    User.objects.filter(pk=stale.pk).update(date_joined=timezone.now() - timedelta(days=45))
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in_on_page(page, owner.email, password)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.get_by_role("link", name="Access review").click()
    expect(page.get_by_role("heading", name="Access review")).to_be_visible()
    row = page.locator('tr[data-email="stale@northwind.example"]')
    expect(row.get_by_text("no sign-in for 30+ days")).to_be_visible()
    screenshot(page, "access-review.png", tmp_path)

    page.get_by_label("Show", exact=True).select_option("flagged")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(f'tr[data-email="{technician.email}"]')).to_have_count(0)
    page.get_by_label("Select stale@northwind.example").check()
    page.get_by_label("With the people ticked").select_option("deactivate")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Deactivate?")).to_be_visible()
    page.get_by_role("button", name="Yes, deactivate").click()

    expect(page.get_by_text("Deactivate: done for stale@northwind.example.")).to_be_visible()
    stale.refresh_from_db()
    assert not stale.is_active
    assert AuditEvent.objects.filter(event=AuditEventType.PERSON_DEACTIVATED, target=stale).exists()


def test_owner_reviews_access_in_the_admin_and_requires_a_new_password(
    new_page, owner, technician, tenant, password, tmp_path
):
    stale = UserFactory(tenant=tenant, email="stale@northwind.example", full_name="Stan Stale")
    User.objects.filter(pk=stale.pk).update(date_joined=timezone.now() - timedelta(days=45))
    page = new_page()
    page.set_viewport_size({"width": 1700, "height": 800})
    sign_in_on_page(page, owner.email, password)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Access review").click()
    expect(page.get_by_text("3 people, 1 flagged.")).to_be_visible()
    page.get_by_role("link", name="no sign-in for 30+ days").click()
    expect(page.locator('input[name="_selected_action"]')).to_have_count(1)
    screenshot(page, "admin-access-review.png", tmp_path)
    page.locator(f'input[name="_selected_action"][value="{stale.pk}"]').check()
    page.locator('select[name="action"]').select_option("require_password_change")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("They must choose a new password")).to_be_visible()
    page.get_by_role("button", name="Yes, require a new password at next sign-in").click()

    expect(page.get_by_text("done for stale@northwind.example.")).to_be_visible()
    stale.refresh_from_db()
    assert stale.password_change_required
    page.get_by_role("button", name="Mark this review done").click()
    expect(page.get_by_text("Access review recorded: 3 people reviewed.")).to_be_visible()


def test_locked_out_technician_asks_for_help_and_the_owner_unlocks_them(
    new_page, owner, technician, password
):
    tech_page = new_page()
    for _ in range(settings.LOCKOUT_FAILURES + 1):
        sign_in_on_page(tech_page, technician.email, "not-my-password")
        if tech_page.get_by_role("heading", name="Sign-in paused").is_visible():
            break
    expect(tech_page.get_by_role("heading", name="Sign-in paused")).to_be_visible()

    tech_page.get_by_role("link", name="Can't sign in?").click()
    tech_page.get_by_label("Email you sign in with").fill(technician.email)
    tech_page.get_by_label("I'm locked out after failed sign-ins").check()
    tech_page.get_by_label("Anything your owner should know").fill("Fat-fingered it, sorry")
    tech_page.get_by_role("button", name="Send my request").click()
    expect(tech_page.get_by_role("heading", name="Thanks, we've passed it on")).to_be_visible()

    owner_page = new_page()
    sign_in_on_page(owner_page, owner.email, password)
    expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()
    owner_page.get_by_role("link", name="Recovery requests", exact=True).click()
    owner_page.get_by_role("link", name="Handle").click()
    expect(owner_page.get_by_text("First check it's really them, out of band.")).to_be_visible()
    expect(owner_page.get_by_text("Fat-fingered it, sorry")).to_be_visible()
    owner_page.get_by_role("button", name="Unlock").click()
    expect(owner_page.get_by_role("heading", name="Unlock?")).to_be_visible()
    owner_page.get_by_role("button", name="Yes: Unlock").click()
    expect(owner_page.get_by_text(f"Done: {technician.email} has been mailed")).to_be_visible()

    assert RecoveryRequest.objects.get().outcome == RecoveryRequest.Outcome.UNLOCKED
    sign_in_on_page(tech_page, technician.email, password)
    expect(tech_page.get_by_role("heading", name="Your account")).to_be_visible()


def test_help_page_screenshot(page, tmp_path):
    page.set_viewport_size({"width": 1024, "height": 700})
    page.goto("/help/")
    page.get_by_role("link", name="When codes don't work").click()
    expect(page.get_by_role("heading", name="When codes don't work")).to_be_visible()
    expect(page.get_by_text(f"after {settings.LOCKOUT_FAILURES} in a row")).to_be_visible()
    screenshot(page, "help-codes-not-working.png", tmp_path)
