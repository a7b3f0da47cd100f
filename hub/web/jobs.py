"""The job exchange: job offers and job-seeking ads, on the offers' search engine with
facets of their own (occupation, kind, country, town, posted within)."""

from __future__ import annotations

from flask import render_template

from hub.db import get_session
from hub.search import JOB_FACETS
from hub.search import JOB_KINDS
from hub.web import search_page
from hub.web.localized import localized_blueprint

bp = localized_blueprint("jobs", __name__)


@bp.get("/jobs/")
def jobs() -> str:
    found = search_page.run(
        get_session(), search_page.read_query(JOB_FACETS, kinds=JOB_KINDS)
    )
    return render_template(
        "jobs.html",
        search=found,
        query=found.query,
        result=found.result,
        filters=found.filters,
    )
