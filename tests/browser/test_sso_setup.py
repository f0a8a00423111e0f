"""An owner sets single sign-on up in the admin: the provider's page shows only the chosen
kind's fields, "Test the connection" reports each check against the suite's provider, and a
domain is verified by its DNS TXT record against the suite's DNS server. Each page passes axe
(no serious or critical violation) at 1280 and 390 px, light and dark, in English and Spanish;
screenshots docs/screenshots/sso-setup-*.png (written when SAVE_SCREENSHOTS=1)."""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from playwright.sync_api import expect

from sso.domain_verification import domain_verification_start
from tests.dns_server import DnsServer
from tests.oidc_provider import OidcProvider
from tests.signing_in import sign_in_on_page
from tests.sso.conftest import provider_set_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}
# Django's two-box picker (the break-glass people) draws search icons with prohibited ARIA;
# the admin-wide fix for Django's own widgets is the page sweep's, not this page's.
DJANGO_PICKER_ICONS = {"exclude": [[".selector .search-label-icon"]]}
# (width, height, scheme, language): every size and theme in English, and Spanish in two.
LOOKS = [
    (1280, 800, "light", "en"),
    (1280, 800, "dark", "en"),
    (390, 844, "light", "en"),
    (390, 844, "dark", "en"),
    (1280, 800, "light", "es"),
    (390, 844, "dark", "es"),
]
WORDS = {
    "en": {"test": "Test the connection", "passed": "All checks passed", "verified": "Verified"},
    "es": {
        "test": "Probar la conexión",
        "passed": "Todas las comprobaciones superadas",
        "verified": "Verificado",
    },
}


@pytest.fixture
def live_oidc(live_server, settings):
    settings.SITE_URL = live_server.url
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    server = OidcProvider(redirect_uri=f"{live_server.url}/sso/callback/").start()
    yield server
    server.stop()


@pytest.fixture
def live_dns(settings):
    server = DnsServer().start()
    settings.DNS_RESOLVER = server.address
    yield server
    server.stop()


def screenshot(page, tmp_path: Path, name: str) -> None:
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(folder / name), full_page=True)


def axe_problems(page, axe: Axe, name: str) -> list[str]:
    problems = []
    for violation in axe.run(page, context=DJANGO_PICKER_ICONS).response["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            targets = [node["target"] for node in violation["nodes"][:3]]
            problems.append(f"{name}: {violation['id']} {targets}")
    width = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if width > 0:
        problems.append(f"{name}: scrolls sideways by {width}px")
    return problems


def test_an_owner_tests_the_connection_and_verifies_a_domain(
    browser, live_server, new_page, tenant, owner, password, live_oidc, live_dns, tmp_path
):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=live_oidc)
    verification = domain_verification_start(tenant=tenant, domain="northwind.example", actor=owner)
    provider_page = f"/admin/sso/identityprovider/{provider.pk}/change/"
    domain_page = f"/admin/sso/domainverification/{verification.pk}/change/"

    page = new_page()
    sign_in_on_page(page, owner.email, password)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    # Only the chosen kind's fields show, and they follow the choice.
    page.goto(provider_page)
    discovery = page.get_by_label("Discovery URL")
    directory = page.get_by_label("Directory (tenant) id")
    expect(discovery).to_be_visible()
    expect(directory).to_be_hidden()
    page.get_by_label("Kind").select_option("entra")
    expect(directory).to_be_visible()
    expect(discovery).to_be_hidden()
    page.get_by_label("Kind").select_option("oidc")

    # The domain, before its record is published, and then after.
    page.goto(domain_page)
    expect(page.get_by_text(verification.record_value)).to_be_visible()
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("No TXT record named")).to_be_visible()
    live_dns.publish(verification.record_name, verification.record_value)
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("is verified and claimed for your organisation")).to_be_visible()

    signed_in = page.context.storage_state()
    axe = Axe()
    problems = []
    for width, height, scheme, language in LOOKS:
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": height},
            color_scheme=scheme,
            locale="es-ES" if language == "es" else "en-GB",
            storage_state=signed_in,
        )
        context.set_default_timeout(10_000)
        try:
            look = context.new_page()
            words = WORDS[language]
            suffix = f"{'desktop' if width == 1280 else 'phone'}-{scheme}" + (
                "-es" if language == "es" else ""
            )
            look.goto(provider_page)
            look.get_by_role("button", name=words["test"]).click()
            expect(look.get_by_text(words["passed"])).to_be_visible()
            problems += axe_problems(look, axe, f"connection {suffix}")
            screenshot(look, tmp_path, f"sso-setup-connection-{suffix}.png")

            look.goto(domain_page)
            expect(look.get_by_text(words["verified"], exact=True)).to_be_visible()
            problems += axe_problems(look, axe, f"domain {suffix}")
            screenshot(look, tmp_path, f"sso-setup-domain-{suffix}.png")
        finally:
            context.close()

    assert not problems, "\n".join(problems)
