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
