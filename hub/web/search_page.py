"""What the search pages (offers, job exchange) share: the visitor's URL read into an
OfferQuery, and the facets and active filters ready for the templates.

Views hold no SQL: names of clusters and organisations come from hub.listings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import g
from flask import request
from sqlalchemy.orm import Session

from hub import listings
from hub.places import find_place
from hub.search import POSTED_WITHIN
from hub.search import OfferPage
from hub.search import OfferQuery
from hub.search import search_offers
from hub.web import labels
from hub.web.numbers import page_number
from hub.web.numbers import row_id

# URL parameter -> OfferQuery field; the parameter is the facet's name.
TEXT_FILTERS = (
    "kind",
    "cluster",
    "country",
    "town",
    "language",
    "sector",
    "occupation",
)
MAX_FILTER_CHARS = 300


@dataclasses.dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclasses.dataclass(frozen=True)
class Facet:
    name: str
    label: str
    values: list[FacetValue]


@dataclasses.dataclass(frozen=True)
class SearchPage:
    """Everything a search template needs."""

    query: OfferQuery
    result: OfferPage
    facets: list[Facet]
    filters: list[tuple[str, str]]  # (parameter, value) of the active filters
    labels: dict[tuple[str, str], str]  # (parameter, value) -> how it reads

    def label(self, name: str, value: str) -> str:
        return self.labels.get((name, value), value)


def read_query(facets: tuple[str, ...], **scope: Any) -> OfferQuery:
    """The visitor's query from the URL: only the filters of ``facets`` apply (plus
    ``q``, ``sort``, ``page``); ``scope`` fixes fields (e.g. the job kinds)."""
    args = request.args
    values: dict[str, Any] = {}
    for name in TEXT_FILTERS:
        value = args.get(name, "").strip()[:MAX_FILTER_CHARS]
        if name in facets and value:
            values[name] = value
    if "town" in values:  # one town whatever name the URL uses (facet values: keys)
        place = find_place(values["town"])
        values["town"] = place.key if place is not None else values["town"]
    if "organisation" in facets:
        values["organisation"] = row_id(args.get("organisation"))
    if "posted" in facets:
        posted = args.get("posted", type=int)
        values["posted_within"] = posted if posted in POSTED_WITHIN else None
    return OfferQuery(
        text=args.get("q", "").strip()[:200],
        page=page_number(args.get("page")),
        sort="date" if args.get("sort") == "date" else "relevance",
        facets=facets,
        view_language=g.get("lang"),  # one version per offer, the visitor's first
        **values,
        **scope,
    )


def run(db: Session, query: OfferQuery) -> SearchPage:
    """Search, then name every facet value and active filter for the visitor."""
    result = search_offers(db, query)
    active = active_filters(query)
    organisations = [v for v, _ in result.facets.get("organisation", [])]
    if query.organisation is not None:
        organisations.append(str(query.organisation))
    names = {
        "cluster": {c.slug: c.display_name(g.lang) for c in listings.list_clusters(db)},
        "organisation": listings.organisation_names(db, organisations),
    }
    facets = [
        Facet(
            name,
            labels.facet(name),
            [
                FacetValue(
                    value,
                    labels.facet_value(name, value, names.get(name)),
                    count,
                    active.get(name) == value,
                )
                for value, count in counts
            ],
        )
        for name, counts in result.facets.items()
        if counts
    ]
    filters = list(active.items())
    named = {
        (name, value): labels.facet_value(name, value, names.get(name))
        for name, value in filters
    }
    return SearchPage(query, result, facets, filters, named)


def active_filters(query: OfferQuery) -> dict[str, str]:
    """The active filters as URL parameters (in facet order)."""
    active = {name: getattr(query, name) for name in TEXT_FILTERS}
    active["organisation"] = query.organisation
    active["posted"] = query.posted_within
    facets = query.facets if isinstance(query.facets, tuple) else ()
    return {name: str(active[name]) for name in facets if active.get(name)}
