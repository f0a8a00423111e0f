"""Password forms read in order: each error under its own box, the rules after the box."""

import re

from django.test import Client

from tests.signing_in import sign_in

CHANGE = "/accounts/password/change/"
NEW_PASSWORD = "fresh-granite-lantern-orbit"


def errors_under(page: str, field: str) -> str:
    """The text of the errors the form row of `field` shows."""
    row_start = rf'<div class="field[^"]*">\s*<label for="id_{field}">'
    row_end = r'</div>\s*(?=<div class="field|<button)'
    row = re.search(rf"{row_start}.*?{row_end}", page, re.S)
    assert row, f"no row for {field}"
    return " ".join(re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', row.group(0), re.S))


def test_too_short_sits_under_the_new_password_and_a_mismatch_under_the_second_box(
    technician, password
):
    page = (
        sign_in(Client(), technician)
        .post(
            CHANGE,
            {"old_password": password, "new_password1": "short", "new_password2": "other"},
        )
        .content.decode()
    )

    assert "too short" in errors_under(page, "new_password1")
    assert "don&#x27;t match" in errors_under(page, "new_password2")
    assert "too short" not in errors_under(page, "new_password2")


def test_the_rule_list_comes_after_the_box(technician):
    page = sign_in(Client(), technician).get(CHANGE).content.decode()

    box = page.index('id="id_new_password1"')
    rules = page.index('id="id_new_password1_helptext"')
    label = page.index('for="id_new_password1"')
    assert label < box < rules


def test_a_good_new_password_is_kept_when_only_the_second_box_differs(technician, password):
    page = (
        sign_in(Client(), technician)
        .post(
            CHANGE,
            {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": "typo"},
        )
        .content.decode()
    )

    assert f'value="{NEW_PASSWORD}"' in page
    assert 'value="typo"' not in page
    assert f'value="{password}"' not in page


def test_the_sign_in_page_warns_as_failures_near_the_lock(client, technician, settings):
    pages = [
        client.post(
            "/accounts/login/", {"username": technician.email, "password": "wrong-one"}
        ).content.decode()
        for _ in range(settings.LOCKOUT_FAILURES - 1)
    ]

    assert "pauses for" not in pages[0]
    assert (
        "2 more wrong passwords and signing in with this email pauses for 15 minutes" in pages[-2]
    )
    assert "1 more wrong password and signing in with this email pauses for 15 minutes" in pages[-1]


def test_the_warning_is_the_same_for_an_email_without_an_account(client, db, settings):
    for _ in range(settings.LOCKOUT_FAILURES - 1):
        page = client.post(
            "/accounts/login/", {"username": "nobody@northwind.example", "password": "wrong-one"}
        ).content.decode()

    assert "1 more wrong password and signing in with this email pauses" in page


def test_signing_out_says_so(technician):
    browser = sign_in(Client(), technician)

    page = browser.post("/accounts/logout/", follow=True).content.decode()

    assert "You are signed out." in page
