""" "Test the connection": what an owner can learn of a saved provider without anyone signing in.

Four checks in order, each passed or failed with the reason in words: the discovery document
(fetched, JSON, naming the endpoints a sign-in uses, each at an address this site fetches
from), its issuer (the one a sign-in will demand), the signing keys (the JWKS fetched, at
least one key a sign-in can verify an ID token with), and the client secret (stored and
readable with this site's keys). Then the authorization URL a person can open to see the
provider's own answer to this client id and redirect URI. A check that depends on one that
failed is not run.

Fetches follow the sign-in's rules (`client.provider_address_problem`: public https://
addresses only unless `SSO_ALLOW_LOCAL_PROVIDERS`; no redirects), wait at most
`SSO_HTTP_TIMEOUT` and read at most `MAX_DOCUMENT_BYTES`. Nothing is stored and nothing cached:
a test changes nothing, so it is not audited.
"""

import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso import client
from sso.encryption import SecretUnreadable, secret_decrypt
from sso.models import DISCOVERY_PATH, IdentityProvider

# A discovery document or key set is a few kilobytes; more is not one.
MAX_DOCUMENT_BYTES = 512 * 1024
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
# Key types that sign with the algorithms a sign-in accepts (`client.SIGNATURE_ALGORITHMS`).
SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

PASSED = "passed"
FAILED = "failed"
NOT_RUN = "not_run"


@dataclass
class Check:
    name: str
    outcome: str
    detail: str


@dataclass
class ConnectionReport:
    checks: list[Check] = field(default_factory=list)
    authorization_url: str = ""

    @property
    def passed(self) -> bool:
        return all(check.outcome == PASSED for check in self.checks)

    def as_dict(self) -> dict:
        """For the session, between the test's POST and the page that shows it."""
        return {
            "checks": [vars(check) for check in self.checks],
            "authorization_url": self.authorization_url,
        }


class _Failed(Exception):
    pass


def _fetch_json(url: str) -> dict:
    """GET a provider's JSON document by the sign-in's rules, or `_Failed` with why."""
    problem = client.provider_address_problem(url)
    if problem:
        raise _Failed(
            _("This site doesn't fetch from %(url)s: %(problem)s")
            % {
                "url": url,
                "problem": problem,
            }
        )
    try:
        with requests.get(
            url,
            timeout=settings.SSO_HTTP_TIMEOUT,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json"},
        ) as response:
            if response.is_redirect:
                raise _Failed(
                    _("%(url)s answered with a redirect, which sign-ins don't follow.")
                    % {"url": url}
                )
            if response.status_code != 200:
                raise _Failed(
                    _("%(url)s answered with HTTP status %(status)s.")
                    % {"url": url, "status": response.status_code}
                )
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.Timeout as error:
        raise _Failed(
            _("%(url)s didn't answer within %(seconds)s seconds.")
            % {"url": url, "seconds": f"{settings.SSO_HTTP_TIMEOUT:g}"}
        ) from error
    except requests.RequestException as error:
        raise _Failed(_("%(url)s can't be reached.") % {"url": url}) from error
    if len(body) > MAX_DOCUMENT_BYTES:
        raise _Failed(_("%(url)s answered with too large a document.") % {"url": url})
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Failed(_("%(url)s didn't answer with JSON.") % {"url": url}) from error
    if not isinstance(document, dict):
        raise _Failed(_("%(url)s didn't answer with a JSON object.") % {"url": url})
    return document


def _discovery(provider: IdentityProvider) -> dict:
    metadata = _fetch_json(provider.metadata_url)
    missing = [name for name in ENDPOINTS if not isinstance(metadata.get(name), str)]
    if missing:
        raise _Failed(_("The document doesn't name its %(names)s.") % {"names": ", ".join(missing)})
    for name in ENDPOINTS:
        problem = client.provider_address_problem(metadata[name])
        if problem:
            raise _Failed(
                _("Its %(name)s, %(url)s, is at an address sign-ins don't use: %(problem)s")
                % {"name": name, "url": metadata[name], "problem": problem}
            )
    return metadata


def _issuer(provider: IdentityProvider, metadata: dict) -> str:
    issuer = metadata.get("issuer")
    expected = provider.expected_issuer
    if expected is not None and issuer != expected:
        raise _Failed(
            _("The document names the issuer %(issuer)s; sign-ins need %(expected)s.")
            % {"issuer": issuer, "expected": expected}
        )
    if not client.issuer_matches_discovery_url(provider=provider, issuer=issuer):
        raise _Failed(
            _(
                "The document names the issuer %(issuer)s, but its address is under "
                "%(prefix)s: sign-ins accept only the issuer the discovery URL is under."
            )
            % {
                "issuer": issuer,
                "prefix": provider.discovery_url.removesuffix(DISCOVERY_PATH),
            }
        )
    return str(issuer)


def _keys(metadata: dict) -> str:
    document = _fetch_json(metadata["jwks_uri"])
    listed = document.get("keys")
    if not isinstance(listed, list) or not listed:
        raise _Failed(_("The key set at %(url)s holds no keys.") % {"url": metadata["jwks_uri"]})
    usable = [
        key
        for key in listed
        if isinstance(key, dict)
        and key.get("kty") in SIGNING_KEY_TYPES
        and key.get("use", "sig") == "sig"
        and key.get("alg", client.DEFAULT_SIGNATURE_ALGORITHM) in client.SIGNATURE_ALGORITHMS
    ]
    if not usable:
        raise _Failed(
            ngettext(
                "The one key at %(url)s can't verify a sign-in's ID token (it is not a "
                "signing key of a kind sign-ins accept).",
                "None of the %(count)s keys at %(url)s can verify a sign-in's ID token (none "
                "is a signing key of a kind sign-ins accept).",
                len(listed),
            )
            % {"count": len(listed), "url": metadata["jwks_uri"]}
        )
    try:
        KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise _Failed(_("A signing key in the key set can't be read.")) from error
    return ngettext(
        "%(count)s signing key published.", "%(count)s signing keys published.", len(usable)
    ) % {"count": len(usable)}


def authorization_url(provider: IdentityProvider, metadata: dict) -> str:
    """The address of the provider's sign-in for this client and redirect URI, as a sign-in
    would send the browser there (a fresh state, nonce and PKCE challenge nobody keeps, so
    coming back from it signs nobody in)."""
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": client.redirect_uri(),
        "scope": client.SCOPE,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": secrets.token_urlsafe(32),
        "code_challenge_method": "S256",
    }
    if provider.kind == IdentityProvider.Kind.GOOGLE:
        params["hd"] = provider.hosted_domain
    endpoint = metadata["authorization_endpoint"]
    joiner = "&" if "?" in endpoint else "?"
    return f"{endpoint}{joiner}{urlencode(params)}"


def provider_connection_test(provider: IdentityProvider) -> ConnectionReport:
    """Run the checks in order; see the module's docstring."""
    report = ConnectionReport()
    discovery_name = _("Discovery document")
    issuer_name = _("Issuer")
    keys_name = _("Signing keys")
    secret_name = _("Client secret")
    try:
        metadata = _discovery(provider)
    except _Failed as failure:
        report.checks.append(Check(discovery_name, FAILED, str(failure)))
        not_run = _("Not checked: the discovery document is needed first.")
        report.checks += [Check(name, NOT_RUN, not_run) for name in (issuer_name, keys_name)]
    else:
        report.checks.append(
            Check(discovery_name, PASSED, _("Read from %(url)s.") % {"url": provider.metadata_url})
        )
        try:
            issuer = _issuer(provider, metadata)
        except _Failed as failure:
            report.checks.append(Check(issuer_name, FAILED, str(failure)))
        else:
            report.checks.append(Check(issuer_name, PASSED, issuer))
        try:
            report.checks.append(Check(keys_name, PASSED, _keys(metadata)))
        except _Failed as failure:
            report.checks.append(Check(keys_name, FAILED, str(failure)))
        report.authorization_url = authorization_url(provider, metadata)
    try:
        secret_decrypt(provider.client_secret_encrypted)
    except SecretUnreadable:
        report.checks.append(
            Check(
                secret_name,
                FAILED,
                _(
                    "The stored secret can't be read with this site's keys "
                    "(FIELD_ENCRYPTION_KEY changed): type it again."
                ),
            )
        )
    else:
        report.checks.append(
            Check(
                secret_name,
                PASSED,
                _("Stored and readable. Only a sign-in shows whether the provider accepts it."),
            )
        )
    return report
