"""An owner adds a range in the admin and switches the list on; a technician outside it sees the
refusal page (written to docs/screenshots/ when SAVE_SCREENSHOTS=1)."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def test_owner_adds_a_range_and_a_technician_outside_it_is_refused(
    new_page, owner, technician, tenant, password, tmp_path
):
    owner_page = new_page()
    sign_in_on_page(owner_page, owner.email, password)
    expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()
    owner_page.goto("/admin/teams/accesslistentry/add/")
    owner_page.get_by_label("Range").fill("192.0.2.0/24")
    owner_page.get_by_label("Label").fill("Office")
    owner_page.get_by_role("button", name="Save", exact=True).click()
    expect(owner_page.get_by_text("Office (192.0.2.0/24)").first).to_be_visible()

    owner_page.goto(f"/admin/teams/tenant/{tenant.pk}/change/")
    owner_page.get_by_label("Enforce the IP access list").check()
    owner_page.get_by_role("button", name="Save", exact=True).click()
    expect(owner_page.get_by_text("is outside the IP access list")).to_be_visible()
    owner_page.get_by_label("I understand that I can't sign in from my current address").check()
    owner_page.get_by_role("button", name="Save", exact=True).click()
    expect(owner_page.get_by_text("was changed successfully")).to_be_visible()

    technician_page = new_page()
    technician_page.goto("/accounts/login/")
    technician_page.get_by_label("Email").fill(technician.email)
    technician_page.get_by_label("Password").fill(password)
    technician_page.get_by_role("button", name="Sign in").click()

    expect(technician_page.get_by_role("heading", name="Not from this network")).to_be_visible()
    expect(
        technician_page.get_by_text("Your MSP allows sign-in only from its approved networks")
    ).to_be_visible()
    to_docs = os.environ.get("SAVE_SCREENSHOTS") == "1"
    path = (SCREENSHOTS if to_docs else tmp_path) / "access-list-refused.png"
    technician_page.screenshot(path=str(path), full_page=True)
    # The exempt Owner who switched it on is still in.
    owner_page.goto("/")
    expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()
