"""The provider ending sessions: OpenID Connect Back-Channel Logout 1.0, with logout tokens
signed by the suite's own provider (tests/oidc_provider.py) and posted as a provider posts
them, server to server: no cookie, no CSRF token."""

import base64
import json
import time

import pytest
from django.conf import settings
from django.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from audit.events import AuditEventType
from audit.models import AuditEvent
from teams.models import UserSession
from tests.factories import UserFactory, UserSessionFactory
from tests.mfa.helpers import totp_code
from tests.oidc_provider import BACKCHANNEL_LOGOUT_EVENT, LEFT_OUT, OidcProvider
from tests.signing_in import VERIFY, sign_in
from tests.sso.conftest import sso_sign_in

pytestmark = pytest.mark.django_db

ENDED_NOTE = "your organisation&#x27;s sign-in ended your session there"


def logout_url(provider) -> str:
    return f"/sso/{provider.pk}/backchannel-logout/"


def provider_posts(provider, token: str, **extra):
    """What the provider's server sends: a form-encoded POST, with no session and no CSRF
    token (the client enforces CSRF checks, as a browser's request would meet them)."""
    return Client(enforce_csrf_checks=True).post(
        logout_url(provider), {"logout_token": token}, **extra
    )


def signed_in_as(client: Client):
    response = client.get("/")
    return response.wsgi_request.user if response.status_code == 200 else None


def sso_session(client: Client, oidc: OidcProvider, person, *, sub: str, sid: str) -> Client:
    oidc.sign_in_as(sub=sub, email=person.email, sid=sid)
    sso_sign_in(client, person.email)
    assert signed_in_as(client) == person
    return client


def ended_events():
    return AuditEvent.objects.filter(event=AuditEventType.SSO_BACKCHANNEL_LOGOUT)


def refused_events():
    return AuditEvent.objects.filter(event=AuditEventType.SSO_LOGOUT_TOKEN_REFUSED)


def test_a_logout_token_by_sub_ends_every_session_the_provider_signed_in_for_them(
    sso_tenant, technician, tenant, oidc
):
    laptop = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-laptop")
    phone = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-phone")
    by_password = sign_in(Client(), technician)
    colleague = UserFactory(tenant=tenant, email="cole@northwind.example")
    colleagues = sso_session(Client(), oidc, colleague, sub="sub-cole", sid="sid-cole")

    response = provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess"))

    assert response.status_code == 200 and response.content == b""
    assert "no-store" in response["Cache-Control"]
    assert signed_in_as(phone) is None
    told = laptop.get("/", follow=True)
    assert told.wsgi_request.user.is_anonymous and ENDED_NOTE in told.content.decode()
    assert signed_in_as(by_password) == technician
    assert signed_in_as(colleagues) == colleague
    [ended] = ended_events()
    assert (ended.actor, ended.target, ended.tenant) == (None, technician, tenant)
    assert ended.details == {
        "provider": sso_tenant.label,
        "kind": "oidc",
        "subject": "sub-tess",
        "sid": "",
        "sessions": 2,
    }


def test_a_logout_token_by_sid_ends_only_that_session(sso_tenant, technician, oidc):
    laptop = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-laptop")
    phone = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-phone")

    assert provider_posts(sso_tenant, oidc.logout_token(sid="sid-laptop")).status_code == 200
    # A sid with another person's subject names no session of ours: both must match.
    assert (
        provider_posts(sso_tenant, oidc.logout_token(sub="sub-else", sid="sid-phone")).status_code
        == 200
    )

    assert signed_in_as(laptop) is None
    assert signed_in_as(phone) == technician
    assert [
        (event.target, event.details["sid"], event.details["sessions"])
        for event in (ended_events().order_by("pk"))
    ] == [(technician, "sid-laptop", 1), (None, "sid-phone", 0)]


def test_a_session_that_waited_at_its_second_step_is_found_by_its_sid(
    sso_tenant, user_with_totp, clock, oidc
):
    """The provider's session id rides with the attempt through the second step."""
    browser = Client()
    oidc.sign_in_as(sub="sub-tess", email=user_with_totp.email, sid="sid-laptop")
    assert sso_sign_in(browser, user_with_totp.email).url.startswith(VERIFY)
    browser.post(VERIFY, {"otp_token": totp_code(user_with_totp)})
    assert signed_in_as(browser) == user_with_totp

    assert provider_posts(sso_tenant, oidc.logout_token(sid="sid-laptop")).status_code == 200

    assert signed_in_as(browser) is None


def test_a_token_naming_nobody_signed_in_here_is_still_a_success(sso_tenant, oidc):
    response = provider_posts(sso_tenant, oidc.logout_token(sub="sub-nobody-here"))

    assert response.status_code == 200
    [ended] = ended_events()
    assert (ended.target, ended.details["sessions"]) == (None, 0)


def test_another_tenants_sessions_and_other_doors_sessions_are_out_of_reach(
    sso_tenant, technician, other_tenant, oidc
):
    """The provider ends only what its issuer signed in within its tenant, even where a
    session elsewhere carries the same subject."""
    stranger = UserFactory(tenant=other_tenant, email="someone@contoso.example")
    UserSessionFactory(user=stranger, provider_issuer=oidc.issuer, provider_subject="sub-tess")
    UserSessionFactory(user=technician, provider_issuer="https://elsewhere.example")
    UserSessionFactory(user=technician)

    assert provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess")).status_code == 200

    assert UserSession.objects.count() == 3


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def good_claims(oidc: OidcProvider) -> dict:
    payload = oidc.logout_token(sub="sub-tess").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=="))


def forged_signature(oidc: OidcProvider) -> str:
    """Signed by someone else's key under the provider's own key id."""
    forger = RSAKey.generate_key(2048, parameters={"kid": oidc.signing_key.kid})
    return jwt.encode({"alg": "RS256", "kid": oidc.signing_key.kid}, good_claims(oidc), forger)


def unsigned(oidc: OidcProvider) -> str:
    header = {"alg": "none", "kid": oidc.signing_key.kid, "typ": "logout+jwt"}
    return f"{_b64(header)}.{_b64(good_claims(oidc))}."


def now() -> int:
    return int(time.time())


REFUSED = {
    "forged_signature": (forged_signature, "logout_token_bad_signature"),
    "alg_none": (unsigned, "logout_token_unsupported_algorithm"),
    "wrong_audience": (
        lambda oidc: oidc.logout_token(sub="sub-tess", aud="another-client"),
        "logout_token_invalid_claim",
    ),
    "wrong_issuer": (
        lambda oidc: oidc.logout_token(sub="sub-tess", iss="https://elsewhere.example"),
        "logout_token_invalid_claim",
    ),
    "no_events": (
        lambda oidc: oidc.logout_token(sub="sub-tess", events=LEFT_OUT),
        "logout_token_no_logout_event",
    ),
    "events_without_the_logout_event": (
        lambda oidc: oidc.logout_token(sub="sub-tess", events={"urn:other": {}}),
        "logout_token_no_logout_event",
    ),
    "events_as_a_list": (
        lambda oidc: oidc.logout_token(sub="sub-tess", events=[BACKCHANNEL_LOGOUT_EVENT]),
        "logout_token_no_logout_event",
    ),
    "nonce_present": (
        lambda oidc: oidc.logout_token(sub="sub-tess", nonce="n-0S6_WzA2Mj"),
        "logout_token_nonce_present",
    ),
    "neither_sub_nor_sid": (lambda oidc: oidc.logout_token(), "logout_token_no_sub_or_sid"),
    "typed_as_an_access_token": (
        lambda oidc: oidc.logout_token(sub="sub-tess", header={"typ": "at+jwt"}),
        "logout_token_wrong_type",
    ),
    "issued_too_long_ago": (
        lambda oidc: oidc.logout_token(sub="sub-tess", iat=now() - 300, exp=now() + 60),
        "logout_token_too_old",
    ),
    "issued_in_the_future": (
        lambda oidc: oidc.logout_token(sub="sub-tess", iat=now() + 600),
        "logout_token_invalid_claim",
    ),
    "expired": (
        lambda oidc: oidc.logout_token(sub="sub-tess", exp=now() - 120),
        "logout_token_expired_token",
    ),
    "no_jti": (
        lambda oidc: oidc.logout_token(sub="sub-tess", jti=LEFT_OUT),
        "logout_token_missing_claim",
    ),
    "not_a_token": (lambda oidc: "not-a-token", "logout_token_decode_error"),
    "no_token": (lambda oidc: "", "logout_token_missing"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_bad_logout_token_is_a_400_that_ends_nothing_and_is_audited(
    sso_tenant, technician, tenant, oidc, case
):
    UserSessionFactory(user=technician, provider_issuer=oidc.issuer, provider_subject="sub-tess")
    make, reason = REFUSED[case]

    response = provider_posts(sso_tenant, make(oidc))

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": reason}
    assert "no-store" in response["Cache-Control"]
    assert UserSession.objects.filter(user=technician).exists()
    assert not ended_events().exists()
    [refused] = refused_events()
    assert (refused.tenant, refused.actor, refused.details["reason"]) == (tenant, None, reason)


def test_a_logout_token_is_good_once(sso_tenant, technician, oidc):
    phone = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-phone")
    token = oidc.logout_token(sub="sub-tess")
    assert provider_posts(sso_tenant, token).status_code == 200
    later = sso_session(Client(), oidc, technician, sub="sub-tess", sid="sid-later")

    replayed = provider_posts(sso_tenant, token)

    assert replayed.status_code == 400
    assert replayed.json()["error_description"] == "logout_token_replayed"
    assert signed_in_as(phone) is None
    assert signed_in_as(later) == technician


def test_a_rotated_key_is_fetched_once_and_unknown_ones_at_most_once_a_minute(
    sso_tenant, technician, oidc
):
    assert provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess")).status_code == 200
    fetched = oidc.jwks_fetches
    oidc.key_rotate()

    assert provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess")).status_code == 200
    assert oidc.jwks_fetches == fetched + 1
    # Anyone can post a token naming a key id nobody published; it must not cost a fetch each.
    oidc.key_unpublished_sign()
    for _ in range(3):
        refused = provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess"))
        assert refused.json()["error_description"] == "logout_token_invalid_key_id"
    assert oidc.jwks_fetches == fetched + 1


def test_an_address_whose_tokens_keep_failing_is_turned_away_before_any_check(
    settings, sso_tenant, technician, oidc
):
    settings.SSO_LOGOUT_REFUSALS_PER_IP = 2
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(2):
        refused = provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess", aud="x"), **attacker)
        assert refused.status_code == 400

    dropped = provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess"), **attacker)

    assert dropped.status_code == 429 and dropped["Retry-After"] == "60"
    assert AuditEvent.objects.filter(
        event=AuditEventType.RATE_LIMIT_DROPPED,
        details__limit="SSO_LOGOUT_REFUSALS_PER_IP",
    ).exists()
    # The same reason twice in a minute is one event: a flood of forgeries can't fill the trail.
    assert refused_events().count() == 1
    provider = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(3):
        passed = provider_posts(sso_tenant, oidc.logout_token(sub="sub-tess"), **provider)
        assert passed.status_code == 200


def test_only_a_post_to_an_existing_provider_is_answered(sso_tenant, oidc):
    assert Client().get(logout_url(sso_tenant)).status_code == 405
    missing = f"/sso/{sso_tenant.pk + 1}/backchannel-logout/"
    assert Client().post(missing, {"logout_token": oidc.logout_token(sub="x")}).status_code == 404


def test_the_owner_finds_the_uri_to_register_at_the_provider(sso_tenant, owner):
    page = sign_in(Client(), owner).get(f"/admin/sso/identityprovider/{sso_tenant.pk}/change/")

    assert f"{settings.SITE_URL}/sso/{sso_tenant.pk}/backchannel-logout/" in page.content.decode()
