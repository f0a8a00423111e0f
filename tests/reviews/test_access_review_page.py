"""The access review page people use: safe defaults and nothing to act on when nobody matches."""

import re

from django.test import Client

from tests.signing_in import sign_in

PAGE = "/access-review/"


def test_the_bulk_action_starts_on_no_action_and_deactivate_is_not_the_default(owner, technician):
    page = sign_in(Client(), owner).get(PAGE).content.decode()

    select = re.search(r'<select name="action".*?</select>', page, re.S).group(0)
    first_option = re.search(r"<option[^>]*>", select).group(0)
    assert 'value=""' in first_option and "selected" in first_option
    assert "required" in select


def test_everyone_shown_can_be_selected_at_once(owner, technician):
    page = sign_in(Client(), owner).get(PAGE).content.decode()

    assert 'data-select-all="people"' in page
    assert page.count('name="people"') == 2


def test_no_bulk_form_when_nobody_matches(owner):
    page = sign_in(Client(), owner).get(PAGE, {"flag": "locked"}).content.decode()

    assert "Nobody matches these filters." in page
    assert 'name="action"' not in page


def test_flags_sit_in_one_group_per_person(owner, technician):
    page = sign_in(Client(), owner).get(PAGE).content.decode()

    assert page.count('<span class="flags">') == 2
