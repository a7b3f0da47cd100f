"""One page per cluster (description, sources and their harvest health, live offers by
kind, newest offers) and the list of clusters."""

from __future__ import annotations

from flask import abort
from flask import g
from flask import render_template

from hub import listings
from hub.db import get_session
from hub.web.localized import localized_blueprint

bp = localized_blueprint("clusters", __name__)


@bp.get("/clusters/")
def clusters() -> str:
    return render_template(
        "clusters.html", clusters=listings.list_cluster_summaries(get_session())
    )


@bp.get("/clusters/<slug>/")
def cluster(slug: str) -> str:
    db = get_session()
    found = listings.find_cluster(db, slug)
    if found is None:
        abort(404)
    kinds = listings.count_offers_by_kind(db, found.id)
    return render_template(
        "cluster.html",
        cluster=found,
        kinds=kinds,
        total=sum(kinds.values()),
        health=listings.list_source_health(db, cluster_id=found.id),
        latest=listings.list_latest_offers(
            db, limit=10, cluster_id=found.id, language=g.lang
        ),
    )
