"""Pages of the federation view: home, offers search, offer, status.

Views hold no SQL."""

from __future__ import annotations

from flask import abort
from flask import g
from flask import render_template
from flask import request

from hub import listings
from hub.db import get_session
from hub.search import OFFER_FACETS
from hub.web import operator
from hub.web import search_page
from hub.web import structured
from hub.web.localized import localized_blueprint

bp = localized_blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    db = get_session()
    return render_template(
        "home.html",
        clusters=listings.list_cluster_summaries(db),
        latest=listings.list_latest_offers(db, limit=8, language=g.lang),
    )


@bp.get("/offers/")
def offers() -> str:
    """Search with facets: every filter visible, removable, and counted."""
    db = get_session()
    found = search_page.run(db, search_page.read_query(OFFER_FACETS))
    return render_template(
        "offers.html",
        search=found,
        query=found.query,
        result=found.result,
        filters=found.filters,
    )


@bp.get("/offers/<id:offer_id>")
def offer(offer_id: int) -> str:
    db = get_session()
    found = listings.find_offer(db, offer_id)
    if found is None:
        abort(404)
    return render_template(
        "offer.html",
        offer=found,
        versions=listings.list_language_versions(db, found),
        json_ld=structured.offer_json_ld(found, request.url),
        similar=listings.list_similar_offers(db, found, g.lang),
    )


@bp.get("/status/")
def status() -> str:
    """Harvest health of every source: what failed, why, and when it is tried again.

    A signed-in operator also gets a "harvest now" button per source (hub.web.operator).
    """
    return render_template(
        "status.html",
        health=listings.list_source_health(get_session()),
        operator_enabled=operator.enabled(),
        is_operator=operator.signed_in(),
    )
