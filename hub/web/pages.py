"""Pages of the federation view: home, offers search, offer. Views hold no SQL."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import g
from flask import render_template
from flask import request

from hub import index
from hub.db import get_session
from hub.registry import UI_LANGUAGES
from hub.search import OfferQuery
from hub.search import search_offers

bp = Blueprint("pages", __name__, url_prefix="/<lang>")


@bp.url_value_preprocessor
def _pull_language(endpoint: str | None, values: dict[str, Any] | None) -> None:
    lang = (values or {}).pop("lang", None)
    if lang not in UI_LANGUAGES:
        abort(404)
    g.lang = lang


@bp.url_defaults
def _add_language(endpoint: str, values: dict[str, Any]) -> None:
    if "lang" not in values and "lang" in g:
        values["lang"] = g.lang


@bp.get("/")
def home() -> str:
    db = get_session()
    return render_template(
        "home.html",
        clusters=index.list_cluster_summaries(db),
        latest=index.list_latest_offers(db, limit=8),
    )


@bp.get("/offers/")
def offers() -> str:
    db = get_session()
    query = OfferQuery(
        text=request.args.get("q", "").strip()[:200],
        cluster=request.args.get("cluster") or None,
        page=request.args.get("page", 1, type=int) or 1,
    )
    return render_template(
        "offers.html",
        query=query,
        result=search_offers(db, query),
        clusters=index.list_clusters(db),
    )


@bp.get("/offers/<int:offer_id>")
def offer(offer_id: int) -> str:
    db = get_session()
    found = index.find_offer(db, offer_id)
    if found is None:
        abort(404)
    return render_template(
        "offer.html", offer=found, versions=index.list_language_versions(db, found)
    )


@bp.get("/status/")
def status() -> str:
    """Harvest health of every source: what failed, why, and when it is tried again."""
    return render_template(
        "status.html", health=index.list_source_health(get_session())
    )
