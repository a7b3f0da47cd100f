"""The offers search's query string on the machine side (output feeds, JSON API):
read exactly as the search page reads it (hub.web.search_page), checked strictly for
the API, and written back in one canonical form (feed links, cursors)."""

from __future__ import annotations

import dataclasses

from flask import request

from hub.search import ALL_FACETS
from hub.search import POSTED_WITHIN
from hub.search import OfferQuery
from hub.web import search_page
from hub.web.numbers import row_id

# Every filter a search page knows: the offers page's plus the job exchange's.
FILTERS = ALL_FACETS


class SearchArgsError(ValueError):
    """A parameter the API cannot use (the message names it)."""


def read_query(*, strict: bool = False) -> OfferQuery:
    """The request's text query and filters. The page ignores a malformed number;
    with ``strict`` (the API) it is an error."""
    if strict:
        _check_numbers()
    query = search_page.read_query(FILTERS)
    return dataclasses.replace(query, page=1, facets=False)


def to_params(query: OfferQuery) -> dict[str, str]:
    """``q`` and the active filters of ``query`` as URL parameters, in facet order."""
    params = {"q": query.text} if query.text else {}
    # search_page names the active filters of the facets a query has
    return params | search_page.active_filters(
        dataclasses.replace(query, facets=FILTERS)
    )


def _check_numbers() -> None:
    organisation = request.args.get("organisation", "")
    if organisation and row_id(organisation) is None:
        raise SearchArgsError("organisation: expected an organisation id")
    posted = request.args.get("posted", "")
    choices = ", ".join(str(d) for d in POSTED_WITHIN)
    if posted and posted not in {str(d) for d in POSTED_WITHIN}:
        raise SearchArgsError(f"posted: expected one of {choices} (days)")
