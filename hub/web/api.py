"""The machine side of the site: ``/api/v1``. For now the ping a member site (or the
operator) sends to ask for an immediate harvest of one configured source."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue

from hub import index
from hub import listings
from hub.db import get_session
from hub.scheduler import utcnow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/ping")
def ping() -> ResponseReturnValue:
    """Ask for a harvest of a configured source, named by ``source`` (its key) or
    ``url`` (its configured URL), in a form or a JSON body.

    202: it is due now; 404: no such source (the hub never fetches a URL that is not in
    its registry); 429 with Retry-After: pinged too recently.
    """
    payload = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(payload, Mapping):
        payload = {}
    key, url = (
        v if isinstance(v := payload.get(k), str) and v else None
        for k in ("source", "url")
    )
    if not (key or url):
        return jsonify(error="give 'source' (cluster/id) or 'url' of a source"), 400
    db = get_session()
    source = listings.find_source_for_ping(db, key, url)
    if source is None:
        return jsonify(error="no such source in the registry"), 404
    gap = timedelta(seconds=current_app.config["ECOOP_PING_MIN_SECONDS"])
    wait = index.request_harvest(db, source, utcnow(), gap)
    if wait is not None:
        seconds = max(1, math.ceil(wait.total_seconds()))
        response = jsonify(error="pinged too recently", retry_after=seconds)
        response.headers["Retry-After"] = str(seconds)
        return response, 429
    return jsonify(source=source.key, due_at=source.next_check_at.isoformat()), 202
