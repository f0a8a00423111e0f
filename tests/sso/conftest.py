from urllib.parse import urlsplit

import pytest
import requests
from django.http import HttpResponse
from django.test import Client

from sso.models import IdentityProvider
from sso.services import domain_claim, provider_save
from tests.dns_server import DnsServer
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider

START = "/sso/start/"


@pytest.fixture
def oidc(settings):
    """The suite's own OpenID Connect provider, on the loopback interface for this test."""
    settings.SSO_ALLOW_LOCAL_PROVIDERS = True
    server = OidcProvider(redirect_uri=f"{settings.SITE_URL}/sso/callback/").start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(settings):
    """The suite's own DNS server on the loopback interface, the site's resolver for this test."""
    server = DnsServer().start()
    settings.DNS_RESOLVER = server.address
    yield server
    server.stop()


def provider_set_up(*, tenant, owner, oidc: OidcProvider, **fields) -> IdentityProvider:
    """A tenant's provider pointing at the test provider, saved as its owner would."""
    break_glass = fields.pop("break_glass", None)
    provider = IdentityProvider(
        tenant=tenant,
        kind=IdentityProvider.Kind.OIDC,
        discovery_url=oidc.discovery_url,
        client_id=CLIENT_ID,
        **fields,
    )
    return provider_save(
        provider=provider,
        client_secret=CLIENT_SECRET,
        break_glass=break_glass if break_glass is not None else [owner],
        actor=owner,
    )


@pytest.fixture
def sso_tenant(tenant, owner, oidc):
    """Northwind IT signs in through the test provider; northwind.example is its domain."""
    domain_claim(tenant=tenant, domain="northwind.example")
    return provider_set_up(tenant=tenant, owner=owner, oidc=oidc)


def provider_leg(client: Client, email: str, **extra) -> str:
    """Type the email on the sign-in page and press "Use single sign-on"; follow the
    browser to the provider. Returns the callback path the provider sends the browser back to."""
    started = client.post(START, {"username": email}, **extra)
    assert started.status_code == 200, started.content
    answer = requests.get(started.context["location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def sso_sign_in(client: Client, email: str, **extra) -> HttpResponse:
    """The whole round trip; the site's answer on the callback."""
    return client.get(provider_leg(client, email, **extra), **extra)
