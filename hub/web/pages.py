"""Pages of the federation view: home, offers search, offer. Views hold no SQL."""

from __future__ import annotations

from flask import abort
from flask import g
from flask import render_template
from flask import request

from hub import listings
from hub.db import get_session
from hub.search import OfferQuery
from hub.search import search_offers
from hub.web.localized import localized_blueprint

bp = localized_blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    db = get_session()
    return render_template(
        "home.html",
        clusters=listings.list_cluster_summaries(db),
        latest=listings.list_latest_offers(db, limit=8),
    )


FILTERS = ("kind", "cluster", "country", "language")


@bp.get("/offers/")
def offers() -> str:
    """Search with facets: every filter visible, removable, and counted."""
    db = get_session()
    args = request.args
    sort = args.get("sort")
    query = OfferQuery(
        text=args.get("q", "").strip()[:200],
        page=args.get("page", 1, type=int) or 1,
        sort="date" if sort == "date" else "relevance",
        facets=True,
        **{name: args.get(name) or None for name in FILTERS},
    )
    clusters = listings.list_clusters(db)
    selected = {name: getattr(query, name) for name in FILTERS if getattr(query, name)}
    return render_template(
        "offers.html",
        query=query,
        result=search_offers(db, query),
        clusters=clusters,
        cluster_names={c.slug: c.display_name(g.lang) for c in clusters},
        filters=list(selected.items()),
        selected=selected,
    )


@bp.get("/offers/<int:offer_id>")
def offer(offer_id: int) -> str:
    db = get_session()
    found = listings.find_offer(db, offer_id)
    if found is None:
        abort(404)
    return render_template(
        "offer.html", offer=found, versions=listings.list_language_versions(db, found)
    )


@bp.get("/status/")
def status() -> str:
    """Harvest health of every source: what failed, why, and when it is tried again."""
    return render_template(
        "status.html", health=listings.list_source_health(get_session())
    )
