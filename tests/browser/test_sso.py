"""A technician signs in through the tenant's identity provider from the sign-in page, typing
the email only; the owner's provider settings and the sign-in page are photographed for the docs
(written to docs/screenshots/ when SAVE_SCREENSHOTS=1)."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from sso.services import domain_claim
from tests.oidc_provider import OidcProvider
from tests.signing_in import sign_in_on_page
from tests.sso.conftest import provider_set_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture
def live_oidc(live_server, settings):
    """The test provider, sending browsers back to the live server, which names itself by
    that address (SITE_URL) in the redirect URI."""
    settings.SITE_URL = live_server.url
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    server = OidcProvider(redirect_uri=f"{live_server.url}/sso/callback/").start()
    yield server
    server.stop()


def screenshot_path(tmp_path: Path, name: str) -> str:
    to_docs = os.environ.get("SAVE_SCREENSHOTS") == "1"
    return str((SCREENSHOTS if to_docs else tmp_path) / name)


def test_a_technician_signs_in_through_the_provider_typing_the_email_only(
    new_page, tenant, owner, technician, password, live_oidc, tmp_path
):
    domain_claim(tenant=tenant, domain="northwind.example", note="DNS TXT record checked")
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=live_oidc)
    live_oidc.sign_in_as(sub="entra-object-id-tess", email=technician.email, name="Tess Tech")

    owner_page = new_page()
    sign_in_on_page(owner_page, owner.email, password)
    expect(owner_page.get_by_role("heading", name="Your account")).to_be_visible()
    owner_page.goto(f"/admin/sso/identityprovider/{provider.pk}/change/")
    expect(owner_page.get_by_text("redirect URI to register at the provider")).to_be_visible()
    expect(owner_page.get_by_text(f"{settings.SITE_URL}/sso/callback/")).to_be_visible()
    owner_page.screenshot(
        path=screenshot_path(tmp_path, "sso-provider-settings.png"), full_page=True
    )

    page = new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(technician.email)
    page.get_by_role("button", name="Sign in", exact=True).click()
    offer = page.get_by_role("button", name=f"Continue with {provider.label}")
    expect(offer).to_be_visible()
    page.screenshot(path=screenshot_path(tmp_path, "sso-sign-in-page.png"), full_page=True)
    offer.click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert live_oidc.last_authorization["login_hint"] == technician.email
    # The other way in: the email, then "Use single sign-on", in a browser of its own.
    other = new_page()
    other.goto("/accounts/login/")
    other.get_by_label("Email").fill(technician.email)
    other.get_by_role("button", name="Use single sign-on").click()
    expect(other.get_by_role("heading", name="Your account")).to_be_visible()
    page.goto("/audit/logins/")
    expect(page.get_by_text("via your organisation").first).to_be_visible()
