"""The admin in the site's words: people, sign out, readable filters, states at a glance."""

from django.test import Client

from tests.factories import TOTPDeviceFactory
from tests.signing_in import sign_in, sign_in_attempt


def test_the_admin_says_people_and_sign_out_and_uses_the_site_look(owner):
    page = sign_in(Client(), owner).get("/admin/").content.decode()

    assert ">People<" in page
    assert ">Users<" not in page
    assert ">Sign out</button>" in page
    assert "Log out" not in page
    assert "css/admin." in page
    assert "favicon." in page


def test_people_list_shows_two_factor_and_lock_state_with_readable_filters(
    owner, technician, settings
):
    TOTPDeviceFactory(user=technician)
    for _ in range(settings.LOCKOUT_FAILURES):
        sign_in_attempt(Client(), technician.email, "wrong-password-here")

    response = sign_in(Client(), owner).get("/admin/accounts/user/")
    assert response.status_code == 200, response
    page = response.content.decode()

    assert "two-factor" in page and ">on</span>" in page and ">off</span>" in page
    assert ">locked</span>" in page
    assert "By is active" not in page
    assert "By status" in page and "By lock" in page


def test_adding_someone_says_an_invitation_was_mailed_and_offers_no_blank_role(owner, tenant):
    browser = sign_in(Client(), owner)
    form = browser.get("/admin/accounts/user/add/").content.decode()
    technician_role = tenant.roles.get(name="Technician")

    response = browser.post(
        "/admin/accounts/user/add/",
        {"email": "nia@northwind.example", "full_name": "Nia", "role": technician_role.pk},
        follow=True,
    )

    assert 'value="">---------' not in form
    page = response.content.decode()
    assert "Invited nia@northwind.example: a link to choose a password is on its way" in page
    assert "It works once, for 3 days." in page
    assert "added successfully" not in page
