import pytest
from playwright.sync_api import expect

from tests.signing_in import sign_in_on_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_person_signs_in_sees_dashboard_and_signs_out(page, technician, password):
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    sign_in_on_page(page, technician.email.upper(), password)

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Northwind IT")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_shows_the_message_in_the_browser(page, technician):
    sign_in_on_page(page, technician.email, "not-the-password")

    expect(page.get_by_role("alert")).to_contain_text("don't match an active account")


def test_stylesheet_loads_under_the_content_security_policy(page, db):
    page.goto("/accounts/login/")

    header_colour = page.locator(".site-header").evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    assert header_colour == "rgb(8, 58, 115)"
