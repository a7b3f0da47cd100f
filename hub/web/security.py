"""Strict security headers on every response of the site, error pages included.

Owns the Content-Security-Policy and its companions; must not touch bodies, routes
or sessions. Templates keep to it: no inline script, style or event handler.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.wrappers import Response

# CSP Level 3 (W3C). No 'unsafe-inline' anywhere: harvested text that slipped past
# the sanitiser still cannot run. Images may come from member sites (https:).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",  # clickjacking; X-Frame-Options for old browsers
        "form-action 'self'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",  # WHATWG Fetch §3.5: no MIME sniffing
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",  # RFC 7034
}

# HTML shows fresh data: caches may keep a page but must ask first (RFC 9111 §5.2.2.4);
# error pages are never stored. A view that sets Cache-Control itself keeps it.
HTML_CACHE_CONTROL = "no-cache"
ERROR_CACHE_CONTROL = "no-store"


def init_app(app: Flask) -> None:
    """Add the headers to every response (after_request also runs for the
    responses of error handlers)."""
    app.after_request(secure)


def secure(response: Response) -> Response:
    """Set the security headers, and Cache-Control on HTML that has none."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = (
            ERROR_CACHE_CONTROL if response.status_code >= 400 else HTML_CACHE_CONTROL
        )
    return response
