"""CSRF protection for every state-changing request of the site.

A per-session random token, sent back by each form (field ``csrf_token``) or by a
script (header ``X-CSRF-Token``); a POST without the session's token is refused with
400 before its view runs. Blueprints for machines (the JSON API) are exempt: they
carry no cookies a browser could be tricked into sending. Owns no other session key.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask
from flask import abort
from flask import request
from flask import session
from flask_babel import gettext as _

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_SESSION_KEY = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def init_app(app: Flask, exempt_blueprints: tuple[str, ...] = ("api",)) -> None:
    """Check every unsafe request but those of ``exempt_blueprints``; give templates
    ``csrf_token()``."""
    # The session cookie is what a forged cross-site form would ride on: Lax keeps it
    # off cross-site POSTs in browsers that honour it; the token covers the others.
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def _check() -> None:
        if request.method in SAFE_METHODS or request.blueprint in exempt_blueprints:
            return
        if request.endpoint is None:  # a 404 or 405 answers on its own
            return
        check()


def token() -> str:
    """The session's CSRF token, made on first use."""
    value = session.get(_SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        session[_SESSION_KEY] = value
    return value


def check() -> None:
    """Abort with 400 unless the request carries the session's token."""
    expected = session.get(_SESSION_KEY)
    given = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        abort(
            400, description=_("This form has expired: reload the page and try again.")
        )
