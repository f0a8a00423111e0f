import pytest
from playwright.sync_api import expect

from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_technician_deactivated_in_the_admin_lands_on_sign_in_at_the_next_click(
    new_page, owner, technician, password
):
    technician_page = new_page()
    sign_in_on_page(technician_page, technician.email, password)
    expect(technician_page.get_by_role("heading", name="Your account")).to_be_visible()
    owner_page = new_page()
    sign_in_on_page(owner_page, owner.email, password)
    expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()

    owner_page.get_by_role("link", name="Admin").click()
    owner_page.get_by_role("link", name="People").first.click()
    owner_page.locator(f'input[name="_selected_action"][value="{technician.pk}"]').check()
    owner_page.locator('select[name="action"]').select_option("deactivate")
    owner_page.get_by_role("button", name="Go").click()
    expect(owner_page.get_by_text("Deactivated 1 person and ended their sessions.")).to_be_visible()

    technician_page.get_by_role("link", name="Sessions").click()

    expect(technician_page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "/accounts/login/" in technician_page.url
