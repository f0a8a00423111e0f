"""An owner finds a technician's refused requests in the trail with the "refused" filter."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def test_an_owner_filters_the_trail_to_refused_requests(
    new_page, technician, owner, password, tmp_path
):
    technician_page = new_page()
    sign_in_on_page(technician_page, technician.email, password)
    expect(technician_page.get_by_role("heading", name="Your account")).to_be_visible()
    for _ in range(3):
        technician_page.goto("/audit/")
        expect(
            technician_page.get_by_role("heading", name="You can't do that here")
        ).to_be_visible()

    owner_page = new_page()
    sign_in_on_page(owner_page, owner.email, password)
    owner_page.get_by_role("link", name="Audit trail").click()
    owner_page.get_by_label("Outcome").select_option(label="Refused access only")
    owner_page.get_by_role("button", name="Filter").click()

    rows = owner_page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Access refused")
    expect(rows).to_contain_text(technician.email)
    expect(rows).to_contain_text("/audit/")
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    owner_page.screenshot(path=str(folder / "audit-refused-filter.png"), full_page=True)
