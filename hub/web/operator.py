"""The operator's side of the status page: sign in with the operator token
(ECOOP_OPERATOR_TOKEN; empty turns the feature off), "harvest now" per source, sign out.

POST only (GET never changes state), each behind hub.web.csrf; sign-in attempts are
rate limited. The session holds a fingerprint of the token, so a new token signs
every operator out.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from hub import index
from hub import listings
from hub.db import get_session
from hub.scheduler import utcnow
from hub.web import csrf
from hub.web.localized import localized_blueprint
from hub.web.ratelimit import RateLimiter

bp = localized_blueprint("operator", __name__)
SIGN_INS_PER_MINUTE = 5
_SESSION_KEY = "operator"


def enabled() -> bool:
    return bool(current_app.config.get("ECOOP_OPERATOR_TOKEN"))


def signed_in() -> bool:
    expected = _fingerprint()
    given = session.get(_SESSION_KEY)
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given, expected)


def _fingerprint() -> str:
    """What the session keeps of the token: an HMAC, never the token itself."""
    token = current_app.config.get("ECOOP_OPERATOR_TOKEN") or ""
    if not token:
        return ""
    key = str(current_app.secret_key or "").encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _limiter() -> RateLimiter:
    limiter = current_app.extensions.get("ecoop.operator_limiter")
    if limiter is None:
        limiter = RateLimiter(limit=SIGN_INS_PER_MINUTE, window=60)
        current_app.extensions["ecoop.operator_limiter"] = limiter
    return limiter


@bp.post("/status/sign-in")
def sign_in() -> ResponseReturnValue:
    if not enabled():
        abort(404)
    wait = _limiter().hit(request.remote_addr or "-")
    if wait is not None:
        response = _status(_("Too many attempts; try again in a minute."), 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    token = current_app.config["ECOOP_OPERATOR_TOKEN"]
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _status(_("Wrong operator token."), 403)
    session.clear()  # a new session: nothing from before the sign-in carries over
    session[_SESSION_KEY] = _fingerprint()
    csrf.token()
    return redirect(url_for("pages.status"), 303)


@bp.post("/status/sign-out")
def sign_out() -> ResponseReturnValue:
    session.pop(_SESSION_KEY, None)
    return redirect(url_for("pages.status"), 303)


@bp.post("/status/sources/<id:source_id>/harvest")
def harvest_now(source_id: int) -> ResponseReturnValue:
    """Make a source due now: the next scheduler tick (any worker) harvests it."""
    if not signed_in():
        abort(403)
    db = get_session()
    source = listings.find_source(db, source_id)
    if source is None:
        abort(404)
    index.request_harvest(db, source, utcnow(), timedelta(0))
    flash(_("%(source)s will be harvested at the next tick.", source=source.key))
    return redirect(url_for("pages.status"), 303)


def _status(error: str, code: int) -> Response:
    return make_response(
        render_template(
            "status.html",
            health=listings.list_source_health(get_session()),
            operator_enabled=True,
            is_operator=False,
            sign_in_error=error,
        ),
        code,
    )
