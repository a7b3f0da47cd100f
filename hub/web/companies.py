"""The companies directory (organisations seen in offers and company feeds) and one
company's page with its live offers."""

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
from hub.web.numbers import page_number

bp = localized_blueprint("companies", __name__)
PER_PAGE = 30


@bp.get("/companies/")
def companies() -> str:
    """Organisations by name; the search folds diacritics (``lodz`` finds Łódź)."""
    db = get_session()
    args = request.args
    text = args.get("q", "").strip()[:200]
    cluster = args.get("cluster", "").strip()[:100] or None
    country = args.get("country", "").strip()[:2] or None
    found = listings.list_organisations(
        db,
        text,
        cluster=cluster,
        country=country,
        page=page_number(args.get("page")),
        per_page=PER_PAGE,
    )
    return render_template(
        "companies.html",
        found=found,
        text=text,
        cluster=cluster,
        country=country,
        clusters=listings.list_clusters(db),
    )


@bp.get("/companies/<id:organisation_id>/")
def company(organisation_id: int) -> str:
    db = get_session()
    found = listings.find_organisation(db, organisation_id)
    if found is None:
        abort(404)
    page = page_number(request.args.get("page"))
    offers = search_offers(
        db,
        OfferQuery(
            organisation=organisation_id,
            sort="date",
            page=page,
            view_language=g.lang,
        ),
    )
    return render_template("company.html", company=found, result=offers)
