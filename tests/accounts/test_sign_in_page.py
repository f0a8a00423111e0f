import pytest
import time_machine
from django.test import Client

from accounts.views import REMEMBERED_TENANT_COOKIE
from tests.factories import UserFactory
from tests.signing_in import LOGIN, sign_in, sign_in_attempt

GENERIC_HELP = "Ask your MSP&#x27;s owner (the person who invited you to Portcullis)"


def test_sign_in_page_shows_address_padlock_reminder_forgot_link_and_generic_help(
    client, db, settings
):
    page = client.get(LOGIN).content.decode()

    assert settings.SITE_URL in page
    assert "padlock" in page
    assert 'href="/accounts/password/reset/">Forgot password?</a>' in page
    assert GENERIC_HELP.replace("&#x27;", "'") in page


def test_help_line_names_the_owner_once_this_browser_has_signed_in(client, owner, technician):
    owner.full_name = "Olivia Owner"
    owner.save()
    sign_in(client, technician)
    client.post("/accounts/logout/")

    page = client.get(LOGIN).content.decode()

    assert "Ask <strong>Olivia Owner</strong> (owner@northwind.example)" in page
    assert "Northwind IT" in page


def test_typing_an_email_never_reveals_its_owner(client, owner, technician):
    response = sign_in_attempt(client, technician.email, "wrong-password-123")

    page = response.content.decode()
    assert owner.email not in page
    assert "Northwind IT" not in page


def test_a_forged_remembered_tenant_cookie_is_ignored(client, owner, other_tenant):
    client.cookies[REMEMBERED_TENANT_COOKIE] = str(owner.tenant_id)

    page = client.get(LOGIN).content.decode()

    assert owner.email not in page


def test_lock_notice_names_the_remembered_owner_whatever_email_is_locked(owner, technician):
    colleague = UserFactory(tenant=technician.tenant)
    notices = []
    with time_machine.travel("2026-05-01 10:00:00+00:00", tick=False):
        for email, ip in [(technician.email, "192.0.2.1"), ("ghost@example.com", "192.0.2.2")]:
            client = Client(REMOTE_ADDR=ip)
            sign_in(client, colleague)
            client.post("/accounts/logout/")
            for _ in range(6):
                response = sign_in_attempt(client, email, "wrong-password-123")
            notices.append(response)

    assert notices[0].status_code == notices[1].status_code == 429
    assert notices[0].content == notices[1].content
    assert owner.email in notices[0].content.decode()


@pytest.mark.parametrize(
    "path",
    [
        LOGIN,
        "/accounts/password/reset/",
        "/accounts/password/reset/sent/",
        "/accounts/reset/MQ/bad-token/",
        "/accounts/logout/",
    ],
)
def test_authentication_pages_are_never_cached(client, db, path):
    assert "no-store" in client.get(path)["Cache-Control"]


def test_remembered_tenant_cookie_is_http_only_and_signed(client, technician):
    sign_in(client, technician)

    cookie = client.cookies[REMEMBERED_TENANT_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie.value != str(technician.tenant_id)


def test_operators_leave_no_remembered_tenant(client, db):
    from tests.factories import OperatorFactory

    sign_in(client, OperatorFactory())

    assert REMEMBERED_TENANT_COOKIE not in client.cookies


def test_help_line_skips_deactivated_owners(client, owner, technician):
    owner.is_active = False
    owner.save()
    deputy = UserFactory(tenant=technician.tenant, email="deputy@northwind.example")
    deputy.role = technician.tenant.roles.get(name="Admin")
    deputy.save()
    sign_in(client, technician)
    client.post("/accounts/logout/")

    page = client.get(LOGIN).content.decode()

    assert "deputy@northwind.example" in page
    assert owner.email not in page
