"""The OpenID Connect protocol with a tenant's provider, done by Authlib.

Authlib's Django client (`DjangoOAuth2App`) does the protocol: the authorization code flow
with PKCE (S256), a `state` and a `nonce` kept in this browser's session and dropped the
moment the provider's answer is read (so each is good once), the token request, and the ID
token's signature against the provider's JWKS (fetched again once when a token names a key id
it doesn't hold, so a provider's key rotation just works), its issuer, audience, expiry and
nonce. Authlib rather than mozilla-django-oidc because the providers are tenant data read at
run time (one per tenant, each with its own issuer and secret), where mozilla-django-oidc
configures one provider in settings.

What is left here is what only this site knows: which issuer a tenant's provider must name
(one Entra directory, never the `common` endpoint's any-directory trust; Google's issuer with
the Workspace's `hd`), and when an email claim counts as verified.
"""

import hashlib
import json
import logging
import time

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from audit.shipping import public_address_problem
from sso.encryption import SecretUnreadable, secret_decrypt
from sso.models import DISCOVERY_PATH, IdentityProvider

logger = logging.getLogger(__name__)

SCOPE = "openid email profile"
# Entra marks an email whose domain the directory has verified with this optional claim; its
# `email` claim alone is whatever an administrator typed (the "nOAuth" confusion).
ENTRA_EMAIL_VERIFIED_CLAIM = "xms_edov"
# The ID token signatures accepted: asymmetric ones, checked against the provider's JWKS. RS256
# is every OpenID Connect provider's, and the default when its document names none.
SIGNATURE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_SIGNATURE_ALGORITHM = "RS256"
SIGNATURE_ALGORITHMS_FIELD = "id_token_signing_alg_values_supported"
# OpenID Connect Back-Channel Logout 1.0: the event a logout token must carry, the token types
# its header may name (compared in lower case: its own, with or without the media type's
# prefix, and the generic JWT some providers put on every token), and the longest token read.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPES = frozenset({"logout+jwt", "application/logout+jwt", "jwt"})
LOGOUT_TOKEN_MAX_LENGTH = 16 * 1024
# An unknown key id in a logout token fetches the provider's keys again at most this often:
# anyone can post one, and each must not cost a request to the provider.
JWKS_REFETCH_SECONDS = 60
# `amr` values (RFC 8176) that say the provider itself asked for more than one factor.
MULTI_FACTOR_AMR = frozenset({"mfa"})


class IdentityRefused(Exception):
    """The provider's answer doesn't prove an identity here. `reason` is a short code for the
    audit log; `claims` what was read of the ID token, if anything."""

    def __init__(self, reason: str, claims: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claims = claims or {}


class LogoutTokenRefused(Exception):
    """A back-channel logout token that doesn't prove the provider asked for a logout.
    `reason` is a short code for the audit log and the 400's `error_description`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def redirect_uri() -> str:
    """The one address every provider sends people back to: register it at the provider."""
    return f"{settings.SITE_URL}{reverse('sso:callback')}"


def backchannel_logout_uri(provider: IdentityProvider) -> str:
    """Where this provider posts its logout tokens: register it at the provider as the
    back-channel logout URI (Okta, Keycloak, authentik)."""
    return f"{settings.SITE_URL}{reverse('sso:backchannel_logout', args=[provider.pk])}"


def issuer_matches_discovery_url(*, provider: IdentityProvider, issuer: object) -> bool:
    """A generic provider's issuer must be the address its discovery document is under
    (OpenID Connect Discovery 1.0, section 4.3), or an owner's own provider could name
    another's issuer (Microsoft's, Google's, another tenant's) and take its people's subjects
    before them. Entra and Google issuers are fixed in `IdentityProvider.expected_issuer`."""
    if provider.expected_issuer is not None:
        return True
    prefix = provider.discovery_url.removesuffix(DISCOVERY_PATH)
    return (
        isinstance(issuer, str)
        and prefix != provider.discovery_url
        and (issuer.rstrip("/") == prefix.rstrip("/"))
    )


def provider_address_problem(url: str) -> str | None:
    """Why the site won't fetch `url` for a provider, or None (`SSO_ALLOW_LOCAL_PROVIDERS`)."""
    return public_address_problem(url, allow_local=settings.SSO_ALLOW_LOCAL_PROVIDERS)


class _ProviderApp(DjangoOAuth2App):
    """Authlib's client, fetching only from public https:// addresses and following no
    redirects: the discovery URL is an owner's input, and the document names the other
    addresses the site fetches (token endpoint, keys)."""

    def _get_session(self):
        session = super()._get_session()
        session.max_redirects = 0
        return session

    def _get_oauth_client(self, **metadata):
        session = super()._get_oauth_client(**metadata)
        session.max_redirects = 0
        return session

    def load_server_metadata(self) -> dict:
        if provider_address_problem(self._server_metadata_url):
            raise IdentityRefused("provider_address_refused")
        metadata = super().load_server_metadata()
        for name in ("token_endpoint", "jwks_uri"):
            if provider_address_problem(str(metadata.get(name, ""))):
                raise IdentityRefused("provider_address_refused")
        # Authlib takes the algorithms an ID token may use from the document: keep only
        # signatures by the provider's published keys, never `none` nor a shared secret.
        offered = metadata.get(SIGNATURE_ALGORITHMS_FIELD)
        offered = offered if isinstance(offered, list) else []
        metadata[SIGNATURE_ALGORITHMS_FIELD] = [
            alg for alg in offered if alg in SIGNATURE_ALGORITHMS
        ] or [DEFAULT_SIGNATURE_ALGORITHM]
        return metadata


def _metadata_cache_key(provider: IdentityProvider) -> str:
    digest = hashlib.sha256(provider.metadata_url.encode()).hexdigest()
    return f"sso:metadata:{digest}"


def _metadata_mac(metadata_url: str, metadata: dict) -> str:
    """An HMAC of a provider's cached discovery document and keys, under a key derived from
    SECRET_KEY.

    The cache (Redis) is shared with other processes and machines: whoever can write to it
    could otherwise put their own key in a provider's JWKS and sign ID tokens with it. A copy
    whose HMAC doesn't match is dropped and fetched again from the provider (ASVS 5.0 V6.7.1).
    The discovery URL is part of what is signed, so one provider's genuine copy (an owner's
    own provider, keys and all) can't be moved under another's key."""
    body = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str)
    return salted_hmac(
        "sso.client.metadata", f"{metadata_url}\n{body}", algorithm="sha256"
    ).hexdigest()


def _metadata_cached(provider: IdentityProvider) -> dict:
    """The provider's discovery document and keys from the cache, if they are there and their
    HMAC matches; otherwise nothing, so Authlib fetches them from the provider."""
    key = _metadata_cache_key(provider)
    cached = cache.get(key)
    if cached is None:
        return {}
    metadata = cached.get("metadata") if isinstance(cached, dict) else None
    mac = cached.get("mac") if isinstance(cached, dict) else None
    if (
        isinstance(metadata, dict)
        and isinstance(mac, str)
        and constant_time_compare(mac, _metadata_mac(provider.metadata_url, metadata))
    ):
        return metadata
    logger.warning(
        "Identity provider %s: the cached discovery document and keys failed their integrity "
        "check; fetching them again",
        provider.pk,
    )
    cache.delete(key)
    return {}


def _app(provider: IdentityProvider) -> _ProviderApp:
    """Authlib's client for this provider, with its discovery document and keys from the
    cache when they are there and untouched."""
    try:
        client_secret = secret_decrypt(provider.client_secret_encrypted)
    except SecretUnreadable as error:
        raise IdentityRefused("client_secret_unreadable") from error
    name = f"sso-{provider.pk}"
    return _ProviderApp(
        DjangoIntegration(name),
        name=name,
        client_id=provider.client_id,
        client_secret=client_secret,
        server_metadata_url=provider.metadata_url,
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "default_timeout": settings.SSO_HTTP_TIMEOUT,
        },
        **_metadata_cached(provider),
    )


def _metadata_keep(provider: IdentityProvider, app: DjangoOAuth2App) -> None:
    if "_loaded_at" in app.server_metadata:
        metadata = dict(app.server_metadata)
        cache.set(
            _metadata_cache_key(provider),
            {"metadata": metadata, "mac": _metadata_mac(provider.metadata_url, metadata)},
            settings.SSO_METADATA_CACHE_SECONDS,
        )


def authorization_redirect(
    *, request: HttpRequest, provider: IdentityProvider, login_hint: str
) -> HttpResponseRedirect:
    """Send the browser to the provider; its `state`, `nonce` and PKCE verifier stay in this
    session until the answer comes back."""
    app = _app(provider)
    extra = {"login_hint": login_hint} if login_hint else {}
    if provider.kind == IdentityProvider.Kind.GOOGLE:
        # Only a hint for Google's account chooser; the `hd` claim is what is checked.
        extra["hd"] = provider.hosted_domain
    try:
        response = app.authorize_redirect(request, redirect_uri(), **extra)
    except (OAuthError, requests.RequestException, ValueError, KeyError, RuntimeError) as error:
        logger.warning("Identity provider %s unreachable: %r", provider.pk, error)
        raise IdentityRefused("provider_unreachable") from error
    _metadata_keep(provider, app)
    return response


def identity_from_callback(*, request: HttpRequest, provider: IdentityProvider) -> dict:
    """The ID token's claims from the provider's answer on the callback, once every check
    has passed; otherwise `IdentityRefused`."""
    app = _app(provider)
    try:
        metadata = app.load_server_metadata()
        issuer = provider.expected_issuer or metadata.get("issuer")
        if not issuer_matches_discovery_url(provider=provider, issuer=issuer):
            raise IdentityRefused("issuer_not_the_discovery_urls")
        token = app.authorize_access_token(
            request,
            # Authlib checks the audience only when told to (otherwise just `azp`).
            claims_options={
                "iss": {"essential": True, "values": [issuer]},
                "aud": {"essential": True, "values": [provider.client_id]},
                "sub": {"essential": True},
            },
            leeway=settings.SSO_CLOCK_LEEWAY_SECONDS,
        )
    except OAuthError as error:
        raise IdentityRefused(error.error or "provider_error") from error
    except JoseError as error:
        raise IdentityRefused(f"id_token_{error.error}") from error
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as error:
        logger.warning("Identity provider %s answer unusable: %r", provider.pk, error)
        raise IdentityRefused("provider_unreachable") from error
    finally:
        _metadata_keep(provider, app)
    claims = token.get("userinfo")
    if not claims:
        raise IdentityRefused("no_id_token")
    claims = dict(claims)
    if provider.kind == IdentityProvider.Kind.ENTRA and claims.get("tid") != str(
        provider.directory_id
    ):
        raise IdentityRefused("wrong_directory", claims)
    if provider.kind == IdentityProvider.Kind.GOOGLE and claims.get("hd") != (
        provider.hosted_domain
    ):
        raise IdentityRefused("wrong_hosted_domain", claims)
    return claims


def verified_email(*, provider: IdentityProvider, claims: dict) -> str | None:
    """The email the provider vouches for, or None.

    `email_verified` must be true (Google, most providers). Entra sends no `email_verified`;
    there the `email` claim counts only with its optional claim `xms_edov` true: the
    directory has verified that the email's domain is its own.
    """
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    if claims.get("email_verified") is True:
        return email
    if provider.kind == IdentityProvider.Kind.ENTRA and claims.get(ENTRA_EMAIL_VERIFIED_CLAIM) in (
        True,
        "true",
        "1",
        1,
    ):
        return email
    return None


def provider_did_multi_factor(claims: dict) -> bool:
    amr = claims.get("amr")
    return isinstance(amr, list) and bool(MULTI_FACTOR_AMR.intersection(map(str, amr)))


def _key_set(app: _ProviderApp, *, provider: IdentityProvider, refetch: bool) -> KeySet:
    if refetch and not cache.add(f"sso:jwks-refetch:{provider.pk}", 1, JWKS_REFETCH_SECONDS):
        raise LogoutTokenRefused("logout_token_invalid_key_id")
    return KeySet.import_key_set(app.fetch_jwk_set(force=refetch))


def _logout_token_decode(
    app: _ProviderApp, *, provider: IdentityProvider, token: str, algorithms: list[str]
) -> jwt.Token:
    """The token's header and claims once its signature is checked against the provider's
    keys, by the algorithms its ID tokens may use (`load_server_metadata` kept only
    asymmetric ones). An unknown key id fetches the keys again, as for an ID token (a key
    rollover), but at most once a minute per provider."""
    registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
    try:
        return jwt.decode(token, _key_set(app, provider=provider, refetch=False), registry=registry)
    except InvalidKeyIdError:
        return jwt.decode(token, _key_set(app, provider=provider, refetch=True), registry=registry)


def _logout_claims_check(decoded: jwt.Token, *, provider: IdentityProvider, issuer: str) -> dict:
    """Back-Channel Logout 1.0, section 2.6, after the signature: the claims an ID token's
    would be held to, then what makes it a logout token and nothing else."""
    token_type = decoded.header.get("typ")
    if token_type is not None and str(token_type).lower() not in LOGOUT_TOKEN_TYPES:
        raise LogoutTokenRefused("logout_token_wrong_type")
    claims = dict(decoded.claims)
    leeway = settings.SSO_CLOCK_LEEWAY_SECONDS
    jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": provider.client_id},
        iat={"essential": True},
        jti={"essential": True},
    ).validate(claims)
    if claims["iat"] < time.time() - settings.SSO_LOGOUT_TOKEN_MAX_AGE_SECONDS - leeway:
        raise LogoutTokenRefused("logout_token_too_old")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutTokenRefused("logout_token_no_logout_event")
    if "nonce" in claims:
        # What keeps an ID token from passing for a logout token, and the other way round.
        raise LogoutTokenRefused("logout_token_nonce_present")
    sub, sid = claims.get("sub"), claims.get("sid")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise LogoutTokenRefused("logout_token_invalid_sid")
    if not sub and not sid:
        raise LogoutTokenRefused("logout_token_no_sub_or_sid")
    return claims


def logout_token_claims(*, provider: IdentityProvider, token: str) -> dict:
    """The claims of a back-channel logout token from this provider, once every check of
    OpenID Connect Back-Channel Logout 1.0 (section 2.6) has passed; otherwise
    `LogoutTokenRefused`.

    Verified like an ID token, with the same client, cached keys and issuer rules: the
    signature by the provider's published keys (asymmetric algorithms only), `iss` the
    provider's, `aud` our client id, `exp` if present. Then `iat` no older than
    SSO_LOGOUT_TOKEN_MAX_AGE_SECONDS (plus the leeway), a `jti`, the back-channel logout event,
    no `nonce`, a `sub` or a `sid`, and a header `typ`, when present, that names a logout
    token (or a plain JWT). Whether the `jti` was seen before is the caller's to check, once
    everything else has passed.
    """
    if not token or len(token) > LOGOUT_TOKEN_MAX_LENGTH:
        raise LogoutTokenRefused("logout_token_missing" if not token else "logout_token_too_long")
    try:
        app = _app(provider)
    except IdentityRefused as refusal:
        raise LogoutTokenRefused(refusal.reason) from refusal
    try:
        metadata = app.load_server_metadata()
        issuer = provider.expected_issuer or metadata.get("issuer")
        if not issuer_matches_discovery_url(provider=provider, issuer=issuer):
            raise LogoutTokenRefused("issuer_not_the_discovery_urls")
        decoded = _logout_token_decode(
            app, provider=provider, token=token, algorithms=metadata[SIGNATURE_ALGORITHMS_FIELD]
        )
        return _logout_claims_check(decoded, provider=provider, issuer=issuer)
    except IdentityRefused as refusal:
        raise LogoutTokenRefused(refusal.reason) from refusal
    except JoseError as error:
        raise LogoutTokenRefused(f"logout_token_{error.error}") from error
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as error:
        logger.warning("Identity provider %s unusable for a logout token: %r", provider.pk, error)
        raise LogoutTokenRefused("provider_unreachable") from error
    finally:
        _metadata_keep(provider, app)
