"""The read side of the JSON API, ``/api/v1``: offers (search, facets, a stable
cursor), one offer, clusters, organisations, sources' health, and the OpenAPI
document that describes them (hub/web/openapi.yaml). Errors are JSON too.
Only http(s) links are published: a harvested ``javascript:`` link never leaves.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from ruamel.yaml import YAML
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from feeds.profile import format_datetime
from hub import exports
from hub import listings
from hub.db import get_session
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Organisation
from hub.registry import UI_LANGUAGES
from hub.search import ALL_FACETS
from hub.search import FACETS
from hub.search import search_offers
from hub.text import is_http_url
from hub.text import sanitize_html
from hub.web import search_args
from hub.web.numbers import MAX_PAGE
from hub.web.numbers import number_in
from hub.web.numbers import page_number

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

OPENAPI = Path(__file__).with_name("openapi.yaml")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
CURSOR_VERSION = 1


class ApiError(Exception):
    """An error the client caused: answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> ResponseReturnValue:
    return jsonify(error=e.message), e.status


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> ResponseReturnValue:
    return jsonify(error=e.description or e.name), e.code or 500


@bp.after_request
def _cache(response: Response) -> Response:
    """Read-only public data: any origin may read it (CORS), caches revalidate."""
    if request.method == "GET":
        response.headers["Access-Control-Allow-Origin"] = "*"
        if response.status_code == 200:
            response.headers["Cache-Control"] = "no-cache"
            response.add_etag()
            response.make_conditional(request)
    return response


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, read once."""
    with OPENAPI.open(encoding="utf-8") as f:
        return dict(YAML(typ="safe").load(f))


@bp.get("/offers")
def offers() -> ResponseReturnValue:
    """Search: the site's text query and filters, newest first, a page at a time."""
    args = request.args
    try:
        query = search_args.read_query(strict=True)
    except search_args.SearchArgsError as e:
        raise ApiError(400, str(e)) from e
    limit = _limit(args)
    facets = _facets(args.get("facets"))
    fingerprint = _fingerprint(search_args.to_params(query))
    after = _read_cursor(args.get("cursor"), fingerprint)
    db = get_session()
    # The total and facets as the site counts them; the page by keyset.
    counted = search_offers(
        db, dataclasses.replace(query, per_page=1, sort="date", facets=facets or False)
    )
    page = exports.list_offers_after(db, query, after, limit + 1)
    more, page = len(page) > limit, page[:limit]
    cursor = _write_cursor(page[-1], fingerprint) if more else None
    body: dict[str, Any] = {
        "total": counted.total,
        "total_is_lower_bound": counted.total_is_lower_bound,
        "offers": [offer_json(o) for o in page],
        "next_cursor": cursor,
        "next": _next_url(cursor=cursor) if cursor else None,
    }
    if facets:
        body["facets_are_lower_bounds"] = counted.facets_are_lower_bounds
        body["facets"] = {
            name: [{"value": v, "count": n} for v, n in counted.facets.get(name, [])]
            for name in facets
        }
    return jsonify(body)


@bp.get("/offers/<id:offer_id>")
def offer(offer_id: int) -> ResponseReturnValue:
    db = get_session()
    found = listings.find_offer(db, offer_id)
    if found is None:
        raise ApiError(404, "no such offer")
    versions = listings.list_language_versions(db, found)
    contact = (
        {
            k: v
            for k in ("name", "email", "phone")
            if isinstance(v := found.contact.get(k), str)
        }
        if isinstance(found.contact, dict)
        else {}
    )
    return jsonify(
        offer_json(found)
        | {
            # sanitised at harvest; again here, as in the feeds (hub.web.outfeeds)
            "body_html": sanitize_html(found.body_html or ""),
            "body_text": found.body_text,
            "contact": contact or None,
            "versions": [
                {"id": v.id, "language": v.language, "title": v.title} for v in versions
            ],
        }
    )


@bp.get("/clusters")
def clusters() -> ResponseReturnValue:
    summaries = listings.list_cluster_summaries(get_session())
    return jsonify(
        clusters=[
            {
                "slug": s.cluster.slug,
                "name": dict(s.cluster.name),
                "description": dict(s.cluster.description or {}),
                "country": s.cluster.country,
                "sector": s.cluster.sector,
                "homepage": _http(s.cluster.homepage),
                "languages": list(s.cluster.languages),
                "offers": s.offers,
                "last_success_at": _time(s.last_success_at),
            }
            for s in summaries
        ]
    )


@bp.get("/organisations")
def organisations() -> ResponseReturnValue:
    """Organisations seen in offers, by name, a page at a time (the companies
    directory's query: ``q`` in the name, ``cluster``, ``country``)."""
    args = request.args
    limit = _limit(args)
    asked = args.get("page", "1")
    page = page_number(asked)
    if str(page) != asked:  # the page served is the page asked for
        raise ApiError(400, f"page: expected an integer from 1 to {MAX_PAGE}")
    found = listings.list_organisations(
        get_session(),
        (args.get("q") or "").strip()[:200],
        cluster=args.get("cluster") or None,
        country=args.get("country") or None,
        page=page,
        per_page=limit,
    )
    more = found.page < found.pages
    return jsonify(
        total=found.total,
        page=found.page,
        pages=found.pages,
        organisations=[
            organisation_json(r.organisation)
            | {"clusters": [c.slug for c in r.clusters], "offers": r.offers}
            for r in found.items
        ],
        next=_next_url(page=str(found.page + 1)) if more else None,
    )


@bp.get("/sources")
def sources() -> ResponseReturnValue:
    """Every source with its harvest health (what the status page shows)."""
    return jsonify(
        sources=[
            {
                "key": h.source.key,
                "cluster": h.source.cluster.slug,
                "type": h.source.type,
                "url": _http(h.source.url),
                "state": h.state,
                "interval_seconds": h.source.interval_seconds,
                "last_run_at": _time(h.source.last_run_at),
                "last_success_at": _time(h.source.last_success_at),
                "last_status": h.source.last_status,
                "consecutive_errors": h.source.consecutive_errors,
                "failing_since": _time(h.source.failing_since),
                "last_error": h.source.last_error,
                "attention": h.source.attention,
                "next_check_at": _time(h.source.next_check_at),
                "last_run": _run_json(h.last_run) if h.last_run else None,
            }
            for h in listings.list_source_health(get_session())
        ]
    )


@bp.get("/<path:anything>")
def not_found(anything: str) -> ResponseReturnValue:
    """A JSON 404 (or 405, for a GET of a POST endpoint such as /ping)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    others = set(adapter.allowed_methods()) - {"GET", "HEAD", "OPTIONS"}
    if others:
        response = jsonify(error="method not allowed")
        response.headers["Allow"] = ", ".join(sorted(others))
        return response, 405
    raise ApiError(404, "no such endpoint; see /api/v1/openapi.json")


# --- representations ---


def offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "title": offer.title,
        "kind": offer.kind,
        "status": offer.status,
        "language": offer.language,
        "cluster": offer.cluster.slug,
        "country": offer.country,
        "town": offer.town,
        "organisation": (
            organisation_json(offer.organisation) if offer.organisation else None
        ),
        "categories": list(offer.categories or []),
        "sectors": list(offer.sectors or []),
        "occupations": list(offer.occupations or []),
        "published_at": _time(offer.published_at),
        "updated_at": _time(offer.updated_at),
        "valid_through": _time(offer.valid_through),
        "url": _http(offer.url),
        "pages": {
            lang: url_for("pages.offer", lang=lang, offer_id=offer.id, _external=True)
            for lang in UI_LANGUAGES
        },
        "api_url": url_for("api_v1.offer", offer_id=offer.id, _external=True),
    }


def organisation_json(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "country": org.country or None,
        "town": org.town,
        "website": _http(org.website),
        "identifiers": {str(k): str(v) for k, v in (org.identifiers or {}).items()},
    }


def _run_json(run: HarvestRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "http_status": run.http_status,
        "items_new": run.items_new,
        "items_updated": run.items_updated,
        "items_unchanged": run.items_unchanged,
        "items_failed": run.items_failed,
        "items_withdrawn": run.items_withdrawn,
        "error_class": run.error_class,
        "error": run.error,
        "warning": run.warning,
    }


def _http(url: str | None) -> str | None:
    """The scheme allow-list: http(s) links only."""
    return url.strip() if url and is_http_url(url) else None


def _time(value: datetime | None) -> str | None:
    return format_datetime(value) if value else None


# --- parameters and cursors ---


def _limit(args: Mapping[str, str]) -> int:
    limit = number_in(args.get("limit") or str(DEFAULT_LIMIT), 1, MAX_LIMIT)
    if limit is None:
        raise ApiError(400, f"limit: expected an integer from 1 to {MAX_LIMIT}")
    return limit


def _facets(raw: str | None) -> tuple[str, ...]:
    """``facets=true`` (the site's facets) or a comma-separated list of names."""
    if not raw or raw == "false":
        return ()
    if raw == "true":
        return FACETS
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if unknown := [n for n in names if n not in ALL_FACETS]:
        known = ", ".join(ALL_FACETS)
        raise ApiError(400, f"facets: unknown {unknown[0]!r} (known: {known})")
    return names


def _fingerprint(params: Mapping[str, str]) -> str:
    """Ties a cursor to its query: another query's cursor is refused."""
    text = json.dumps(sorted(params.items()), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_cursor(last: Offer, scope: str) -> str:
    """An opaque cursor: where the page ended, and for which query."""
    data = {"v": CURSOR_VERSION, "s": scope}
    data |= {"p": format_datetime(last.published_at), "i": last.id}
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(raw: str | None, scope: str) -> exports.OfferPosition | None:
    """The position a cursor holds; None without a cursor. A cursor that is not
    ours, or not for this query (``scope``, its fingerprint): 400."""
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if data.pop("v") != CURSOR_VERSION or data.pop("s") != scope:
            raise ValueError("another query's cursor")
        published = datetime.fromisoformat(data["p"].replace("Z", "+00:00"))
        if published.tzinfo is None or not isinstance(data["i"], int):
            raise ValueError("bad position")
        return exports.OfferPosition(published, data["i"])
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as e:
        raise ApiError(400, "cursor: not a cursor of this query") from e


def _next_url(**changes: str) -> str:
    """This request's URL with ``changes`` to its query string."""
    args = request.args.to_dict() | changes
    return url_for(request.endpoint or "", _external=True, **args)
