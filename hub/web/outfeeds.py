"""Output feeds: every offers search (``q`` and any filter, as on the search page) is
also an Atom, an RSS 2.0 and a JSON Feed 1.1 document of its newest offers, written
with feeds.writer. Only http(s) links are republished: a harvested ``javascript:``
or ``data:`` link never leaves the hub."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Flask
from flask import abort
from flask import g
from flask import request
from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from feeds import profile
from feeds.profile import FeedValueError
from feeds.writer import write_atom
from feeds.writer import write_json_feed
from feeds.writer import write_rss
from hub import listings
from hub.db import get_session
from hub.models import Offer
from hub.search import OfferQuery
from hub.search import search_offers
from hub.text import is_http_url
from hub.text import sanitize_html
from hub.web import labels
from hub.web import search_args
from hub.web.localized import localized_blueprint

bp = localized_blueprint("outfeeds", __name__)

FEED_SIZE = 50  # newest offers per feed document
# Readers poll; five minutes is fresh enough and spares the index (RFC 9111 §5.2.2.1).
CACHE_CONTROL = "public, max-age=300"


@dataclasses.dataclass(frozen=True)
class Format:
    name: str  # the URL's extension
    label: str  # how the link reads (a format's name: not translated)
    mimetype: str
    write: Callable[..., bytes]


FORMATS = {
    f.name: f
    for f in (
        Format("atom", "Atom", "application/atom+xml", write_atom),
        Format("rss", "RSS", "application/rss+xml", write_rss),
        Format("json", "JSON Feed", "application/feed+json", write_json_feed),
    )
}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["search_feeds"] = search_feeds


@bp.get("/offers/feed.<fmt>")
def offers_feed(fmt: str) -> Response:
    """The newest offers of the search in the query string, as a feed."""
    feed_format = FORMATS.get(fmt)
    if feed_format is None:
        abort(404)
    query = dataclasses.replace(
        search_args.read_query(), sort="date", per_page=FEED_SIZE
    )
    db = get_session()
    offers = search_offers(db, query).offers
    params = search_args.to_params(query)
    info = profile.FeedInfo(
        title=feed_title(query),
        link=url_for("pages.offers", _external=True, **params),
        id=url_for(".offers_feed", fmt=fmt, _external=True, **params),
        self_url=url_for(".offers_feed", fmt=fmt, _external=True, **params),
        language=g.lang,
        subtitle=_(
            "The newest offers of the e-cooperation.eu clusters for this search"
        ),
        author="e-cooperation.eu",
        updated=max(
            (o.updated_at or o.published_at for o in offers), default=_empty_updated()
        ),
    )
    body = _write(feed_format.write, info, [feed_offer(o) for o in offers])
    response = Response(body, mimetype=feed_format.mimetype)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.add_etag()
    return response.make_conditional(request)


def search_feeds() -> list[dict[str, str]]:
    """The feeds of the current offers search (for the page's alternate links):
    format label, media type, URL and title."""
    if "search_feeds" in g:  # the page's head and body both list them
        return g.search_feeds  # type: ignore[no-any-return]
    query = search_args.read_query()
    params: dict[str, Any] = search_args.to_params(query)
    title = feed_title(query)
    g.search_feeds = [
        {
            "label": f.label,
            "type": f.mimetype,
            "href": url_for("outfeeds.offers_feed", fmt=f.name, **params),
            "title": f"{title} ({f.label})",
        }
        for f in FORMATS.values()
    ]
    return g.search_feeds  # type: ignore[no-any-return]


def feed_title(query: OfferQuery) -> str:
    """What the search is, in the visitor's language: "Offers: welding, Lithuania"."""
    db = get_session()
    params = search_args.to_params(query)
    names = {
        "cluster": {c.slug: c.display_name(g.lang) for c in listings.list_clusters(db)}
    }
    if "organisation" in params:
        names["organisation"] = listings.organisation_names(
            db, [params["organisation"]]
        )
    parts = [
        value if name == "q" else labels.facet_value(name, value, names.get(name))
        for name, value in params.items()
    ]
    if not parts:
        return str(_("All offers"))
    return str(_("Offers: %(search)s", search=", ".join(parts)))


def feed_offer(offer: Offer) -> profile.Offer:
    """An index offer as the profile's Offer: its hub page as link, the member-site
    page linked from the body; values the profile refuses are left out."""
    published = offer.published_at
    valid = offer.valid_through
    return profile.Offer(
        id=url_for("pages.offer", offer_id=offer.id, _external=True),
        title=offer.title,
        link=url_for("pages.offer", offer_id=offer.id, _external=True),
        kind=profile.OfferKind(offer.kind) if offer.kind in profile.KINDS else None,
        language=_language(offer.language),
        content_html=_body(offer),
        published=published,
        updated=offer.updated_at if offer.updated_at else None,
        valid_through=valid if valid and valid >= published else None,
        organisation=_organisation(offer),
        location=_location(offer.country, offer.town),
        categories=_categories(offer),
        contact=_contact(offer.contact),
    )


def _body(offer: Offer) -> str | None:
    # Bodies were sanitised at harvest; cleaning again costs little and keeps rows
    # written before a sanitiser change from passing anything unsafe on.
    body = Markup(sanitize_html(offer.body_html or ""))
    if is_http_url(offer.url):
        link = Markup('<p><a href="{}">{}</a></p>').format(
            offer.url, _("View the offer on the member site")
        )
        body += link
    return str(body) or None


def _organisation(offer: Offer) -> profile.Organisation | None:
    org = offer.organisation
    if org is None or not org.name:
        return None
    identifiers = {str(k): str(v) for k, v in (org.identifiers or {}).items() if v}
    return profile.Organisation(
        name=org.name,
        country=_country(org.country),
        town=org.town,
        website=org.website if is_http_url(org.website) else None,
        identifiers=identifiers,
    )


def _location(country: str | None, town: str | None) -> profile.Location | None:
    country = _country(country)
    return profile.Location(country, town) if country or town else None


def _categories(offer: Offer) -> tuple[profile.Category, ...]:
    tags = [profile.Category(c) for c in offer.categories or () if c]
    tags += [profile.Category(s, profile.SCHEME_NACE) for s in offer.sectors or () if s]
    tags += [
        profile.Category(o, profile.SCHEME_ESCO_OCCUPATION)
        for o in offer.occupations or ()
        if o
    ]
    return tuple(tags)


def _contact(contact: dict[str, Any] | None) -> profile.Contact | None:
    values = {
        k: v
        for k in ("name", "email", "phone")
        if isinstance(v := (contact or {}).get(k), str) and v
    }
    return profile.Contact(**values) if values else None


def _country(code: str | None) -> str | None:
    return code if code and profile.is_country(code) else None


def _language(tag: str | None) -> str | None:
    return tag if tag and profile.is_language_tag(tag) else None


def _write(
    write: Callable[..., bytes], info: profile.FeedInfo, items: list[profile.Offer]
) -> bytes:
    """The document; an offer the writer refuses is left out, never a failed feed
    (bad input never breaks a page)."""
    try:
        return write(info, items)
    except FeedValueError:
        good = [item for item in items if _writable(write, info, item)]
        return write(info, good)


def _writable(
    write: Callable[..., bytes], info: profile.FeedInfo, item: profile.Offer
) -> bool:
    try:
        write(info, [item])
    except FeedValueError:
        return False
    return True


def _empty_updated() -> datetime:
    # An empty feed still needs an updated time (RFC 4287 §4.1.1): the current hour,
    # so that its ETag holds for a while.
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
