"""Documents in the e-cooperation offer feed profile (feeds/PROFILE.md: Atom with the
``eco`` namespace, JSON Feed with ``_ecoop``) -> ParsedDocument, through feeds.reader.

Pure: bytes (or a file) in, raw items out; no network, no index.
"""

from __future__ import annotations

from typing import BinaryIO

from connectors.base import Items
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from feeds.profile import ECO_NS
from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import FeedReadError
from feeds.profile import Offer
from feeds.reader import stream


def uses_profile(body: bytes) -> bool:
    """True when an XML document declares the offer profile's namespace."""
    return ECO_NS.encode() in body[:65536]


def stream_profile(
    source: Source, body: bytes | BinaryIO, items: Items
) -> ParsedDocument:
    """Every profile field of every entry, handed to ``items`` as it is read; the
    tombstones and the completeness. ``body`` may be a file opened in binary mode,
    at its start (feeds.reader.stream).

    A paged feed (RFC 5005 ``next`` link, JSON Feed ``next_url``) names its next
    page; it is complete only as a whole (connectors.paging joins the pages).
    Company profiles (no kind; an organisation with capabilities) are items too: the
    hub stores them as organisations, not offers (hub.normalize.is_company_profile).

    Raises:
        ParseError: the document is not well-formed or not a feed (class ``parse``);
            what was handed over is retracted first.
    """
    try:
        parsed = stream(body, lambda offer: items.take(_raw_item(offer)), items.retract)
    except FeedReadError as e:
        items.retract()
        raise ParseError(source.url, str(e), "parse") from e
    complete = parsed.info.complete if parsed.completeness_declared else None
    return ParsedDocument(
        items=[],
        deleted=tuple(d.ref for d in parsed.deleted),
        complete=complete,
        next_page=parsed.info.next_url,
        finished=parsed.expired,
    )


def _raw_item(offer: Offer) -> RawItem:
    by_scheme: dict[str | None, list[str]] = {}
    for category in offer.categories:
        scheme = (
            category.scheme
            if category.scheme in (SCHEME_NACE, SCHEME_ESCO_OCCUPATION)
            else None
        )
        by_scheme.setdefault(scheme, []).append(
            category.term if scheme else (category.label or category.term)
        )
    return RawItem(
        guid=offer.id,
        link=offer.link or None,
        title=offer.title,
        summary=offer.summary,
        content=offer.content_html,
        published=offer.published,
        updated=offer.updated,
        valid_through=offer.valid_through,
        author=offer.organisation.name if offer.organisation else None,
        categories=tuple(by_scheme.get(None, ())),
        language=offer.language,
        kind=offer.kind.value if offer.kind else None,
        organisation=offer.organisation,
        location=offer.location,
        sectors=tuple(by_scheme.get(SCHEME_NACE, ())),
        occupations=tuple(by_scheme.get(SCHEME_ESCO_OCCUPATION, ())),
        contact=offer.contact,
        group=offer.group,
    )
