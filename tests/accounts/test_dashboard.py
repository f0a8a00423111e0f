import re

import time_machine

from tests.factories import OperatorFactory
from tests.signing_in import sign_in


def test_dashboard_requires_sign_in(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/"


def test_dashboard_shows_who_tenant_role_and_security_status(client_signed_in, technician):
    page = client_signed_in.get("/").content.decode()

    assert technician.email in page
    assert "Northwind IT" in page
    assert "Technician" in page
    assert "Two-factor authentication" in page
    assert "Off" in page
    assert "This is your first sign-in." in page


def test_dashboard_shows_the_previous_sign_in(client, technician):
    with time_machine.travel("2026-03-01 09:15:00+00:00", tick=False):
        sign_in(client, technician, REMOTE_ADDR="198.51.100.4")
        client.post("/accounts/logout/")
    with time_machine.travel("2026-03-02 10:00:00+00:00", tick=False):
        sign_in(client, technician)
        page = client.get("/").content.decode()

    assert "1 Mar 2026, 09:15 UTC" in page
    assert "198.51.100.4" in page


def test_dashboard_for_an_operator(client, db):
    sign_in(client, OperatorFactory())

    page = client.get("/").content.decode()

    assert "Platform operator (all tenants)" in page


def test_an_owner_without_two_factor_is_nudged_to_turn_it_on(client, owner):
    page = sign_in(client, owner).get("/").content.decode()

    assert "Turn on two-factor authentication." in page
    assert 'href="/mfa/totp/setup/"' in page


def test_a_technician_is_not_nudged_and_sees_your_msp_not_tenant(client_signed_in, technician):
    page = client_signed_in.get("/").content.decode()

    assert "Turn on two-factor authentication." not in page
    assert "<dt>Your MSP</dt>" in page
    assert ">Tenant<" not in page


def test_signed_in_navigation_has_two_factor_help_and_a_menu_button(client_signed_in):
    page = client_signed_in.get("/").content.decode()

    assert 'href="/mfa/">Two-factor</a>' in page
    assert 'href="/help/">Help</a>' in page
    assert 'class="menu-button" aria-controls="site-nav"' in page


def test_every_page_names_a_favicon_that_is_served(client, db):
    page = client.get("/accounts/login/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)

    response = client.get(icon)
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)
