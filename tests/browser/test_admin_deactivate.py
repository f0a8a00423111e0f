import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, person, password) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_technician_deactivated_in_the_admin_lands_on_sign_in_at_the_next_click(
    new_page, owner, technician, password
):
    technician_page = new_page()
    sign_in(technician_page, technician, password)
    owner_page = new_page()
    sign_in(owner_page, owner, password)

    owner_page.get_by_role("link", name="Admin").click()
    owner_page.get_by_role("link", name="Users").first.click()
    owner_page.locator(f'input[name="_selected_action"][value="{technician.pk}"]').check()
    owner_page.locator('select[name="action"]').select_option("deactivate")
    owner_page.get_by_role("button", name="Go").click()
    expect(owner_page.get_by_text("Deactivated 1 people and ended their sessions.")).to_be_visible()

    technician_page.get_by_role("link", name="Sessions").click()

    expect(technician_page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "/accounts/login/" in technician_page.url
