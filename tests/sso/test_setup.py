"""Setting a provider up: only the chosen kind's fields count, and "Test the connection" against
the suite's OpenID Connect provider, passing and failing (wrong issuer, no usable keys, an
unreachable or refused address)."""

import re
from html import unescape

import pytest
import requests
from django.test import Client
from joserfc.jwk import RSAKey

from sso.models import IdentityProvider
from tests.oidc_provider import OidcProvider
from tests.signing_in import sign_in
from tests.sso.conftest import provider_set_up
from tests.sso.test_admin import ADD, change_url, entra_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(owner):
    return sign_in(Client(), owner)


def errors_of(response) -> dict:
    return response.context["adminform"].form.errors


def test_the_page_groups_each_kinds_fields_under_its_heading_with_the_script(owner_client):
    page = owner_client.get(ADD).content.decode()

    for kind, field in (("entra", "directory_id"), ("google", "hosted_domain"), ("oidc", "name")):
        section = re.search(
            rf'<fieldset class="module aligned sso-kind sso-kind-{kind}".*?</fieldset>', page, re.S
        )
        assert section and f'name="{field}"' in section.group(0)
    assert re.search(r'<script src="/static/js/sso-provider[.\w]*\.js">', page)
    assert "Only for Google Workspace." in page


def test_entra_saves_without_the_other_kinds_fields_and_drops_what_was_typed_in_them(
    owner_client, owner, tenant
):
    saved = owner_client.post(
        ADD,
        entra_form(
            owner,
            hosted_domain="not a domain",
            discovery_url="ftp://nowhere",
            name="Left over",
        ),
    )

    assert saved.status_code == 302, errors_of(saved)
    provider = IdentityProvider.objects.get(tenant=tenant)
    assert (provider.hosted_domain, provider.discovery_url, provider.name) == ("", "", "")
    assert provider.directory_id is not None


@pytest.mark.parametrize(
    ("kind", "missing", "message"),
    [
        ("entra", "directory_id", "needs the directory (tenant) id"),
        ("google", "hosted_domain", "needs your Workspace domain"),
        ("oidc", "discovery_url", "needs its discovery URL"),
    ],
)
def test_each_kind_requires_its_own_fields(owner_client, owner, kind, missing, message):
    refused = owner_client.post(ADD, entra_form(owner, kind=kind, directory_id=""))

    assert refused.status_code == 200
    assert message in " ".join(errors_of(refused)[missing])
    assert not IdentityProvider.objects.exists()


def test_switching_to_google_keeps_the_domain_and_forgets_the_directory(
    owner_client, owner, tenant
):
    owner_client.post(ADD, entra_form(owner))
    provider = IdentityProvider.objects.get(tenant=tenant)

    changed = owner_client.post(
        change_url(provider),
        entra_form(owner, kind="google", hosted_domain="northwind.example", client_secret=""),
    )

    assert changed.status_code == 302, errors_of(changed)
    provider.refresh_from_db()
    assert provider.kind == "google"
    assert provider.hosted_domain == "northwind.example"
    assert provider.directory_id is None


def connection_test_url(provider: IdentityProvider) -> str:
    return f"/admin/sso/identityprovider/{provider.pk}/test/"


def connection_tested(client: Client, provider: IdentityProvider) -> str:
    answer = client.post(connection_test_url(provider))
    assert answer.status_code == 302
    assert answer["Location"] == change_url(provider)
    return client.get(change_url(provider)).content.decode()


def checks_in(page: str) -> dict[str, str]:
    """Each check's name and its words, from the report on the provider's page."""
    items = re.findall(r"<li><strong>(.*?):</strong>(.*?)</li>", page, re.S)
    return {
        name: " ".join(unescape(re.sub(r"<[^>]+>", " ", words)).split()) for name, words in items
    }


def test_a_working_provider_passes_every_check_and_its_authorization_url_works(
    owner_client, owner, tenant, oidc
):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    page = owner_client.get(change_url(provider)).content.decode()
    assert "Test the connection" in page
    assert "Connection test" not in page

    page = connection_tested(owner_client, provider)

    assert "All checks passed" in page
    checks = checks_in(page)
    assert checks["Discovery document"].startswith("passed Read from")
    assert checks["Issuer"] == f"passed {oidc.issuer}"
    assert checks["Signing keys"] == "passed 1 signing key published."
    assert checks["Client secret"].startswith("passed")
    url = unescape(re.search(r'<a href="([^"]+)" target="_blank"', page).group(1))
    assert url.startswith(f"{oidc.issuer}/authorize?")
    # The provider accepts it: it knows the client id and redirect URI, and answers with a code.
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("http://localhost:8000/sso/callback/?code=")
    # The report is shown once.
    assert "Connection test" not in owner_client.get(change_url(provider)).content.decode()


def test_a_provider_naming_another_issuer_fails_that_check_with_the_reason(
    owner_client, owner, tenant, oidc
):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    oidc.metadata_changes = {"issuer": "https://login.microsoftonline.com/other/v2.0"}

    checks = checks_in(connection_tested(owner_client, provider))

    assert checks["Discovery document"].startswith("passed")
    assert checks["Issuer"].startswith(
        "failed The document names the issuer https://login.microsoftonline.com/other/v2.0"
    )
    assert checks["Signing keys"].startswith("passed")


def test_no_usable_signing_key_fails_the_keys_check(owner_client, owner, tenant, oidc):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    oidc.published = []
    page = connection_tested(owner_client, provider)
    assert "Some checks failed" in page
    assert (
        checks_in(page)["Signing keys"]
        == f"failed The key set at {oidc.issuer}/jwks holds no keys."
    )

    oidc.published = [RSAKey.generate_key(2048, parameters={"kid": "for-encryption", "use": "enc"})]
    checks = checks_in(connection_tested(owner_client, provider))
    assert checks["Signing keys"].startswith("failed The one key at")


def test_an_unreachable_provider_fails_discovery_and_checks_nothing_after_it(
    owner_client, owner, tenant, settings
):
    gone = OidcProvider(redirect_uri=f"{settings.SITE_URL}/sso/callback/").start()
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=gone)
    gone.stop()

    page = connection_tested(owner_client, provider)

    checks = checks_in(page)
    assert checks["Discovery document"] == f"failed {gone.discovery_url} can't be reached."
    assert checks["Issuer"].startswith("not checked")
    assert checks["Signing keys"].startswith("not checked")
    assert checks["Client secret"].startswith("passed")
    assert "authorization URL" not in page


def test_the_test_fetches_nothing_from_a_private_address(
    owner_client, owner, tenant, oidc, settings
):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    settings.SSO_ALLOW_LOCAL_PROVIDERS = False
    fetched = oidc.discovery_fetches

    checks = checks_in(connection_tested(owner_client, provider))

    assert checks["Discovery document"].startswith("failed This site doesn't fetch from")
    assert oidc.discovery_fetches == fetched


def test_only_those_who_may_change_the_provider_test_it_and_only_by_post(
    owner_client, owner, tenant, oidc, other_tenant, other_owner
):
    provider = provider_set_up(tenant=tenant, owner=owner, oidc=oidc)
    theirs = provider_set_up(tenant=other_tenant, owner=other_owner, oidc=oidc)

    assert owner_client.get(connection_test_url(provider)).status_code == 405
    assert owner_client.post(connection_test_url(theirs)).status_code == 404
