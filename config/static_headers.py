"""The headers every static file carries (whitenoise's WHITENOISE_ADD_HEADERS_FUNCTION).

whitenoise answers a static file before the framing, CSP and cross-site middleware run, so an
SVG opened on its own, or framed by another site, would have had none of a page's protection:
an SVG is a document that can hold script. Computed once per file, when whitenoise first
finds it, so they cost a request nothing. No Django import: config/settings.py imports this.
"""

# No script, no plugin, no form, nothing fetched, never framed; `sandbox` also gives an SVG
# opened as a document a unique origin, so even a script in it couldn't read the site.
STATIC_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)
STATIC_HEADERS = {
    "Content-Security-Policy": STATIC_CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def static_headers_add(headers, path: str, url: str) -> None:
    for name, value in STATIC_HEADERS.items():
        headers[name] = value
