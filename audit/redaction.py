"""Secrets that travel in URLs, taken out of every log line that could quote a URL.

Some links carry a working credential: a password-reset or invitation link
(`/accounts/reset/<uidb64>/<token>/`), a "this wasn't me" link (`/audit/not-me/<token>/`), and a
single sign-on callback (`?code=…&state=…`). Whoever reads a log holding one can use it, so the
access log, Django's request logs and the development server's log all pass through
`redact_secrets` before they are written: each secret becomes `[redacted]` and the rest of the
line stays readable.

Three rules, applied anywhere in the text (a request line, a Referer header, a message):

- the secret segment of the tokened paths named in `SECRET_PATHS`;
- the value of every query parameter named in `SECRET_QUERY_PARAMETERS` (in a URL, or at the
  start of a bare query string);
- as a safety net for a tokened path added later and not named here, any path segment that
  looks like a token: at least `TOKEN_SEGMENT_MIN_LENGTH` characters from the token alphabets
  (base64url, hex, Django's signing `:`), with both letters and digits. Slugs, ids and hashed
  static file names (which hold a `.`) don't match.

Plain Python with no Django import, so gunicorn's logger class can use it before Django starts.
It lives in audit, the lowest layer, because audit events name paths too (refused requests).
"""

import re

REDACTED = "[redacted]"

# (prefix kept, secret segment replaced): the tokened paths of config/urls.py and the apps.
SECRET_PATHS = [
    # A password-reset or invitation link; its `set-password/` landing page holds no token.
    re.compile(r"(/accounts/reset/[^/?#\s]+/)(?!set-password(?:[/?#\s]|$))([^/?#\s]+)"),
    re.compile(r"(/audit/not-me/)([^/?#\s]+)"),
]
SECRET_QUERY_PARAMETERS = (
    "token",
    "code",
    "state",
    "nonce",
    "key",
    "secret",
    "password",
    "otp_token",
    "signature",
    "id_token",
    "access_token",
    "refresh_token",
    "session_state",
    "ticket",
)
QUERY_SECRET = re.compile(
    r"((?:^|[?&])(?:" + "|".join(SECRET_QUERY_PARAMETERS) + r")=)([^&#\s\"']*)", re.IGNORECASE
)
TOKEN_SEGMENT_MIN_LENGTH = 20
TOKEN_SEGMENT = re.compile(
    r"(?<=/)(?=[A-Za-z0-9_:-]*[0-9])(?=[A-Za-z0-9_:-]*[A-Za-z])"
    r"[A-Za-z0-9_:-]{" + str(TOKEN_SEGMENT_MIN_LENGTH) + r",}(?=[/?#\s\"']|$)"
)


def redact_secrets(text: str) -> str:
    """`text` with every URL secret it quotes replaced by `[redacted]`."""
    if "/" not in text and "=" not in text:
        return text
    for pattern in SECRET_PATHS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    text = QUERY_SECRET.sub(lambda match: match.group(1) + REDACTED, text)
    return TOKEN_SEGMENT.sub(REDACTED, text)
