"""Single sign-on against someone holding one piece: an owner's provider they control, a
stolen callback address, a forged or bent ID token, a deactivated person's identity."""

import base64
import hashlib
import hmac
import json
from urllib.parse import urlsplit

import pytest
import requests
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client

from audit.models import AuditEvent
from sso.client import _metadata_cache_key
from sso.models import IdentityProvider, ProviderIdentity
from sso.services import domain_claim, provider_save
from teams import scopes
from tests.factories import OperatorFactory, UserFactory
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.signing_in import sign_in
from tests.sso.conftest import START, provider_leg, provider_set_up, sso_sign_in
from tests.sso.test_sign_in import refusals, signed_in_as

pytestmark = pytest.mark.django_db

ENTRA_ISSUER = "https://login.microsoftonline.com/8f4c2d1e-0b7a-4c5e-9d3f-2a1b0c9e8d7f/v2.0"
ADD = "/admin/sso/identityprovider/add/"


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_a_provider_naming_someone_elses_issuer_binds_nobody(client, sso_tenant, technician, oidc):
    # An owner's own provider claims to be Microsoft for another MSP's directory: the subjects
    # it binds would be taken before that MSP's people sign in.
    oidc.metadata_changes = {"issuer": ENTRA_ISSUER}
    oidc.next_token_claims = {"iss": ENTRA_ISSUER}
    oidc.sign_in_as(sub="their-object-id", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert not ProviderIdentity.objects.exists()
    assert refusals("issuer_not_the_discovery_urls").exists()


def test_an_issuer_with_a_trailing_slash_is_its_discovery_urls(
    client, sso_tenant, technician, oidc
):
    oidc.metadata_changes = {"issuer": f"{oidc.issuer}/"}
    oidc.next_token_claims = {"iss": f"{oidc.issuer}/"}
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician


def test_a_discovery_url_not_ending_in_the_well_known_path_is_refused_at_saving(
    tenant, owner, oidc
):
    provider = IdentityProvider(
        tenant=tenant,
        kind=IdentityProvider.Kind.OIDC,
        discovery_url=f"{oidc.issuer}/metadata.json",
        client_id=CLIENT_ID,
    )
    with pytest.raises(ValidationError) as refused:
        provider_save(
            provider=provider, client_secret=CLIENT_SECRET, break_glass=[owner], actor=owner
        )

    assert "discovery_url" in refused.value.message_dict
    assert not IdentityProvider.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/.well-known/openid-configuration",
        "https://127.0.0.1/.well-known/openid-configuration",
        "https://169.254.169.254/latest/.well-known/openid-configuration",
        "https://10.0.0.5/.well-known/openid-configuration",
        "https://[::1]/.well-known/openid-configuration",
        "https://localhost/.well-known/openid-configuration",
    ],
)
def test_an_owner_cannot_aim_the_discovery_url_at_a_private_network(owner, url):
    owner_client = sign_in(Client(), owner)

    response = owner_client.post(
        ADD,
        {
            "kind": "oidc",
            "discovery_url": url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "enabled": "on",
            "policy": "optional",
            "break_glass": [str(owner.pk)],
        },
    )

    assert response.status_code == 200
    assert "discovery_url" in response.context["adminform"].form.errors
    assert not IdentityProvider.objects.exists()


def test_a_provider_saved_on_a_private_address_is_never_asked(
    client, settings, sso_tenant, technician, oidc
):
    # Saved while local providers were allowed (or its name resolved elsewhere then).
    settings.SSO_ALLOW_LOCAL_PROVIDERS = False

    response = client.post(START, {"username": technician.email})

    assert response.status_code == 502
    assert oidc.discovery_fetches == 0


def test_a_token_endpoint_the_site_wont_fetch_is_never_sent_the_code(
    client, sso_tenant, technician, oidc
):
    oidc.metadata_changes = {"token_endpoint": "gopher://127.0.0.1:70/token"}
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    response = client.post(START, {"username": technician.email})

    assert response.status_code == 502
    assert oidc.token_requests == 0 and oidc.last_authorization == {}


def test_the_provider_s_redirects_are_not_followed(client, sso_tenant, technician, oidc):
    # A public address answering with a redirect would lead the site anywhere, its own
    # network included.
    oidc.redirects = {"/jwks": "/moved/jwks"}
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert oidc.jwks_fetches == 0


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_an_unsigned_or_symmetric_token_is_refused(client, sso_tenant, technician, oidc, alg):
    # The document offers both, as a careless or hostile provider might; `HS256` is signed
    # with what an attacker holds: the published public key.
    oidc.metadata_changes = {"id_token_signing_alg_values_supported": ["RS256", "HS256", "none"]}
    public_pem = oidc.signing_key.as_pem(private=False)

    def forge(claims: dict) -> str:
        header = {"alg": alg, "kid": oidc.signing_key.kid}
        if alg == "none":
            return f"{_b64(header)}.{_b64(claims)}."
        signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
        signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        return (
            f"{signing_input.decode()}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
        )

    oidc.id_token_forge = forge
    oidc.sign_in_as(sub="sub-tess", email=technician.email)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None


def test_a_callback_address_opened_in_another_browser_signs_nobody_in(
    client, sso_tenant, technician, oidc
):
    # Login CSRF: the attacker's own answer from the provider, forced onto a victim's browser.
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    callback = provider_leg(client, technician.email)
    victim = Client()

    response = victim.get(callback)

    assert response.status_code == 400
    assert signed_in_as(victim) is None
    assert refusals("no_sign_in_started").exists()


@pytest.mark.parametrize("after", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_next_never_leaves_the_site(client, sso_tenant, technician, oidc, after):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    started = client.post(f"{START}?next={after}", {"username": technician.email})
    assert started.status_code == 200
    answer = requests.get(started.context["location"], allow_redirects=False, timeout=5)
    back = urlsplit(answer.headers["Location"])

    response = client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302 and response.url == "/"


def test_a_deactivated_persons_identity_is_refused_with_one_event_and_not_bound(
    client, sso_tenant, technician, oidc
):
    technician.is_active = False
    technician.save(update_fields=["is_active"])
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    events_before = AuditEvent.objects.count()

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert not ProviderIdentity.objects.exists()
    assert AuditEvent.objects.count() == events_before + 1
    assert refusals("inactive").exists()


def test_a_tenants_provider_never_signs_in_an_operator_on_its_domain(
    client, sso_tenant, technician, oidc
):
    # An operator who also belongs to the tenant, on its claimed domain: the tenant's owner,
    # holding the provider, would otherwise become a platform operator.
    operator = OperatorFactory(
        email="ops@northwind.example", tenant=sso_tenant.tenant, role=technician.role
    )
    oidc.sign_in_as(sub="sub-ops", email=operator.email)

    response = sso_sign_in(client, operator.email)

    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert not ProviderIdentity.objects.exists()
    assert refusals("operator").exists()


def test_a_tampered_cached_key_set_is_not_trusted(client, sso_tenant, technician, oidc):
    # Someone who can write to the shared cache (Redis) swaps the provider's keys for their
    # own and signs ID tokens with it.
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")
    oidc.key_unpublished_sign()
    key = _metadata_cache_key(sso_tenant)
    cached = cache.get(key)
    metadata = cached.get("metadata", cached)
    assert metadata["jwks"]["keys"]
    metadata["jwks"] = {"keys": [oidc.signing_key.as_dict(private=False)]}
    cache.set(key, cached)

    response = sso_sign_in(client, technician.email)

    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals().filter(details__reason__startswith="id_token").exists()


def test_an_untouched_cached_key_set_is_used_without_fetching_again(
    client, sso_tenant, technician, oidc
):
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    client.post("/accounts/logout/")

    sso_sign_in(client, technician.email)

    assert signed_in_as(client) == technician
    assert oidc.jwks_fetches == 1


def test_another_providers_genuine_cached_copy_is_not_trusted_under_this_ones_key(
    client, settings, sso_tenant, technician, oidc, other_tenant
):
    # An owner's own provider has a genuine cached copy (its keys, its endpoints); moved under
    # another provider's cache key, it must not stand in for that provider's.
    oidc.sign_in_as(sub="sub-tess", email=technician.email)
    sso_sign_in(client, technician.email)
    other_owner = UserFactory(
        tenant=other_tenant, builtin=scopes.OWNER, email="owner@contoso.example"
    )
    domain_claim(tenant=other_tenant, domain="contoso.example")
    elsewhere = OidcProvider(redirect_uri=f"{settings.SITE_URL}/sso/callback/").start()
    try:
        other = provider_set_up(tenant=other_tenant, owner=other_owner, oidc=elsewhere)
        cache.set(_metadata_cache_key(other), cache.get(_metadata_cache_key(sso_tenant)))

        started = Client().post(START, {"username": "someone@contoso.example"})

        assert started.status_code == 200
        assert started.context["location"].startswith(elsewhere.origin)
        assert elsewhere.discovery_fetches == 1
    finally:
        elsewhere.stop()
