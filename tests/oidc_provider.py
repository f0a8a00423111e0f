"""An OpenID Connect provider on the loopback interface, for the single sign-on tests.

A real one over HTTP: discovery document, authorization endpoint, token endpoint (client
authentication, single-use codes bound to their redirect URI, PKCE S256 checked) and a JWKS of
its own RSA keys; ID tokens signed with joserfc. The site under test talks to it exactly as to
Entra ID or Google, through Authlib, over real sockets. What no real provider offers is the
test's hand on it: who is signed in there (`signed_in`), claims to bend in the next ID token
(`next_token_claims`: a wrong audience, an expired token, a stale nonce), its discovery
document (`metadata_changes`: another issuer, endpoints elsewhere), redirects it answers
with (`redirects`: a path to another, served under /moved), ID tokens made by the test's own
function (`id_token_forge`: `alg: none`, a forger's key), and its keys
(`key_rotate`, `key_unpublished_sign`). It also signs back-channel logout tokens
(`logout_token`, OpenID Connect Back-Channel Logout 1.0) with its current key, any claim or
header bent or removed, for the test to post as the provider would.

The browser test signs in through it too; its authorization endpoint answers at once for the
person `signed_in`, as Microsoft does for someone already signed in there.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "portcullis-test-client"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A claim or header given this value is left out of the logout token.
LEFT_OUT = object()
CLIENT_SECRET = "test-client-secret-0123456789"  # noqa: S105 - the test provider's own


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:
        """The test output is no place for an access log."""


class _ThreadingServer(WSGIServer):
    daemon_threads = True


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class OidcProvider:
    def __init__(self, *, redirect_uri: str, issuer_path: str = "") -> None:
        """`issuer_path` puts the issuer, and every endpoint, under a path, as Entra ID's
        `https://login.microsoftonline.com/{directory}/v2.0` does."""
        self.redirect_uri = redirect_uri
        self.issuer_path = issuer_path
        self.signing_key = _key("key-1")
        self.published = [self.signing_key]
        self.signed_in: dict = {}
        self.next_token_claims: dict = {}
        self.metadata_changes: dict = {}
        self.redirects: dict[str, str] = {}
        self.id_token_forge = None
        self.discovery_fetches = 0
        self.codes: dict[str, dict] = {}
        self.jwks_fetches = 0
        self.token_requests = 0
        self.last_authorization: dict = {}
        self._lock = threading.Lock()
        self.server = make_server(
            "127.0.0.1", 0, self._app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.issuer = f"{self.origin}{issuer_path}"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        # Polled often, so stopping it at each test's end takes a moment, not half a second.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> "OidcProvider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the test's hand

    def sign_in_as(self, *, sub: str, email: str, email_verified: bool = True, **claims) -> None:
        """Who is signed in at the provider: the next authorization is theirs."""
        self.signed_in = {"sub": sub, "email": email, "email_verified": email_verified, **claims}

    def key_rotate(self) -> None:
        """A new signing key, published in place of the old one (a provider's key rollover)."""
        self.signing_key = _key(f"key-{secrets.token_hex(4)}")
        self.published = [self.signing_key]

    def key_unpublished_sign(self) -> None:
        """Sign the next tokens with a key the JWKS never shows (a forger's key)."""
        self.signing_key = _key("key-nobody-published")

    def logout_token(
        self, *, sub: str | None = None, sid: str | None = None, header=None, **claims
    ) -> str:
        """A logout token as the provider posts it when `sub` (or its session `sid`) signs out
        there: iss, aud, iat, exp, a fresh jti and the logout event, typed `logout+jwt` and
        signed with the current key. `claims` and `header` replace what they name (`LEFT_OUT`
        drops it)."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            **({"sub": sub} if sub is not None else {}),
            **({"sid": sid} if sid is not None else {}),
            **claims,
        }
        head = {"alg": "RS256", "kid": self.signing_key.kid, "typ": "logout+jwt", **(header or {})}
        return jwt.encode(
            {name: value for name, value in head.items() if value is not LEFT_OUT},
            {name: value for name, value in body.items() if value is not LEFT_OUT},
            self.signing_key,
        )

    # --- HTTP

    def _app(self, environ, start_response):
        path = environ["PATH_INFO"]
        if not path.startswith(self.issuer_path):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        path = path[len(self.issuer_path) :]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if path in self.redirects:
            start_response("302 Found", [("Location", f"{self.issuer}{self.redirects[path]}")])
            return [b""]
        # Where `redirects` may send a request: the same answers under /moved.
        path = path.removeprefix("/moved")
        if path == "/.well-known/openid-configuration":
            with self._lock:
                self.discovery_fetches += 1
            return self._json(start_response, self._metadata())
        if path == "/jwks":
            with self._lock:
                self.jwks_fetches += 1
            keys = [key.as_dict(private=False) for key in self.published]
            return self._json(start_response, {"keys": keys})
        if path == "/authorize":
            return self._authorize(start_response, {k: v[0] for k, v in query.items()})
        if path == "/token" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(length).decode())
            return self._token(start_response, environ, {k: v[0] for k, v in form.items()})
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def _metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
            **self.metadata_changes,
        }

    @staticmethod
    def _json(start_response, body: dict, status: str = "200 OK"):
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def _authorize(self, start_response, params: dict):
        self.last_authorization = params
        if (
            params.get("client_id") != CLIENT_ID
            or params.get("redirect_uri") != self.redirect_uri
            or params.get("response_type") != "code"
            or params.get("code_challenge_method") != "S256"
            or not params.get("code_challenge")
            or "openid" not in params.get("scope", "").split()
        ):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad authorization request"]
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {
                "challenge": params["code_challenge"],
                "redirect_uri": params["redirect_uri"],
                "nonce": params.get("nonce"),
                "identity": dict(self.signed_in),
            }
        location = f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}"
        start_response("302 Found", [("Location", location)])
        return [b""]

    def _client_authenticated(self, environ, form: dict) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        return client_id == CLIENT_ID and secret == CLIENT_SECRET

    def _token(self, start_response, environ, form: dict):
        with self._lock:
            self.token_requests += 1
            grant = self.codes.pop(form.get("code", ""), None)
        if not self._client_authenticated(environ, form):
            return self._json(start_response, {"error": "invalid_client"}, "401 Unauthorized")
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("redirect_uri") != grant["redirect_uri"]
            or _s256(form.get("code_verifier", "")) != grant["challenge"]
        ):
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **grant["identity"],
            **self.next_token_claims,
        }
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        if self.id_token_forge is not None:
            id_token = self.id_token_forge(claims)
        else:
            id_token = jwt.encode(header, claims, self.signing_key)
        return self._json(
            start_response,
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            },
        )
