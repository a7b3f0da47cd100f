"""The feed checker page: a member's feed (URL, upload or pasted text) validated
against the offer feed profile, with a preview. Fetches only public addresses."""

from __future__ import annotations

from flask import current_app
from flask import make_response
from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from connectors.base import FetchError
from connectors.http import HttpLimits
from connectors.http import fetch
from connectors.http import make_http
from connectors.netguard import NetworkPolicy
from feeds.profile import FeedProfileError
from feeds.profile import Message
from feeds.reader import read
from feeds.validator import validate
from hub.web.localized import localized_blueprint
from hub.web.ratelimit import RateLimiter

bp = localized_blueprint("checker", __name__)

CHECK_LIMITS = HttpLimits(
    connect_timeout=5, read_timeout=5, deadline=10, max_bytes=5 * 1024 * 1024
)
CHECKS_PER_MINUTE = 10


def _limiter() -> RateLimiter:
    """The app's limiter (one per app, so each test app starts afresh)."""
    limiter = current_app.extensions.get("ecoop.check_limiter")
    if limiter is None:
        limiter = RateLimiter(limit=CHECKS_PER_MINUTE, window=60)
        current_app.extensions["ecoop.check_limiter"] = limiter
    return limiter


@bp.route("/check-feed/", methods=["GET", "POST"])
def check_feed() -> ResponseReturnValue:
    """The feed checker: a URL, an uploaded file or pasted text, validated against
    the offer feed profile, with a preview of the offers as the hub will show them.

    Fetches go to public addresses only (never the operator's allowed ranges), within
    CHECK_LIMITS, at most CHECKS_PER_MINUTE checks per client; a body that is not a
    feed is never echoed.
    """
    if request.method == "GET":
        return render_template("check_feed.html")
    wait = _limiter().hit(request.remote_addr or "-")
    if wait is not None:
        response = make_response(
            render_template(
                "check_feed.html", error=_("Too many checks; try again in a minute.")
            ),
            429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    url = request.form.get("url", "").strip()
    upload = request.files.get("file")
    pasted = request.form.get("text", "")
    data: bytes | None = None
    if upload and upload.filename:
        data = upload.stream.read(CHECK_LIMITS.max_bytes + 1)
    elif pasted.strip():
        data = pasted.encode("utf-8")
    elif url:
        try:
            data = fetch(
                make_http(),
                url,
                accept="application/atom+xml, "
                "application/feed+json, application/rss+xml, */*;q=0.1",
                limits=CHECK_LIMITS,
                policy=NetworkPolicy(),
            ).body
        except FetchError as e:
            message = (
                _("The server answered HTTP %(status)s.", status=e.status)
                if e.error_class == "http_status"
                else _("No feed could be fetched from this address.")
            )
            return render_template("check_feed.html", url=url, error=message), 422
    if not data:
        return render_template(
            "check_feed.html", error=_("Give an address, a file or the text of a feed.")
        ), 400
    if len(data) > CHECK_LIMITS.max_bytes:
        return render_template(
            "check_feed.html", url=url, error=_("The feed is larger than 5 MB.")
        ), 413
    report = validate(data)
    try:
        preview = read(data).offers[:20] if report.format != "unknown" else []
    except FeedProfileError:
        preview = []
    return render_template(
        "check_feed.html", url=url, report=report, preview=preview, say=_say
    )


def _say(message: Message) -> str:
    """A validator message in the visitor's language (plain text, escaped on output:
    a message may quote the feed, and its templates show tags such as <feed>)."""
    return message.render(_)
