"""Microsoft Entra ID and Google Workspace rules, against the suite's provider standing in at
their addresses: Entra's issuer is one directory's (never `common`'s any-directory trust), its
`tid` must be that directory and its email counts only with `xms_edov`; Google's `hd` must be
the Workspace domain."""

import pytest

from sso import models as sso_models
from sso.models import IdentityProvider
from sso.services import domain_claim, provider_save
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.sso.conftest import sso_sign_in
from tests.sso.test_sign_in import refusals, signed_in_as

pytestmark = pytest.mark.django_db

DIRECTORY = "8f4c2d1e-0b7a-4c5e-9d3f-2a1b0c9e8d7f"
OTHER_DIRECTORY = "0a0a0a0a-1b1b-2c2c-3d3d-4e4e4e4e4e4e"


@pytest.fixture
def entra(settings, monkeypatch, tenant, owner):
    """The test provider at Entra's address for one directory, and the tenant's Entra
    provider pointing at it."""
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    server = OidcProvider(
        redirect_uri=f"{settings.SITE_URL}/sso/callback/", issuer_path=f"/{DIRECTORY}/v2.0"
    ).start()
    monkeypatch.setattr(sso_models, "ENTRA_AUTHORITY", server.origin)
    domain_claim(tenant=tenant, domain="northwind.example")
    provider_save(
        provider=IdentityProvider(
            tenant=tenant,
            kind=IdentityProvider.Kind.ENTRA,
            directory_id=DIRECTORY,
            client_id=CLIENT_ID,
        ),
        client_secret=CLIENT_SECRET,
        break_glass=[owner],
        actor=owner,
    )
    yield server
    server.stop()


def test_entra_signs_in_with_the_directory_and_a_domain_verified_email(client, entra, technician):
    entra.sign_in_as(
        sub="oid-tess", email=technician.email, email_verified=None, tid=DIRECTORY, xms_edov=True
    )

    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician


def test_entra_refuses_another_directorys_token(client, entra, technician):
    entra.sign_in_as(sub="oid-tess", email=technician.email, tid=OTHER_DIRECTORY, xms_edov=True)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals("wrong_directory").exists()


def test_entra_refuses_a_token_from_another_directorys_issuer(client, entra, technician):
    """What the `common` endpoint would accept: any directory's issuer."""
    entra.sign_in_as(sub="oid-tess", email=technician.email, tid=DIRECTORY, xms_edov=True)
    entra.next_token_claims = {"iss": f"{entra.origin}/{OTHER_DIRECTORY}/v2.0"}

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert refusals("id_token_invalid_claim").exists()


def test_entra_email_without_xms_edov_links_nobody(client, entra, technician):
    entra.sign_in_as(sub="oid-tess", email=technician.email, email_verified=None, tid=DIRECTORY)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 403
    assert refusals("email_not_verified").exists()


def test_google_refuses_an_account_outside_the_workspace(
    client, settings, monkeypatch, tenant, owner, technician
):
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    server = OidcProvider(redirect_uri=f"{settings.SITE_URL}/sso/callback/").start()
    monkeypatch.setattr(sso_models, "GOOGLE_ISSUER", server.issuer)
    domain_claim(tenant=tenant, domain="northwind.example")
    provider_save(
        provider=IdentityProvider(
            tenant=tenant,
            kind=IdentityProvider.Kind.GOOGLE,
            hosted_domain="northwind.example",
            client_id=CLIENT_ID,
        ),
        client_secret=CLIENT_SECRET,
        break_glass=[owner],
        actor=owner,
    )
    try:
        server.sign_in_as(sub="g-1", email=technician.email, hd="gmail.com")
        refused = sso_sign_in(client, technician.email)
        assert refused.status_code == 400
        assert refusals("wrong_hosted_domain").exists()
        assert server.last_authorization["hd"] == "northwind.example"

        server.sign_in_as(sub="g-1", email=technician.email, hd="northwind.example")
        sso_sign_in(client, technician.email)
        assert signed_in_as(client) == technician
    finally:
        server.stop()
