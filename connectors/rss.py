"""RSS 0.9x/1.0/2.0 and Atom via feedparser, plus RFC 6721 tombstones and RFC 5005
``fh:complete`` via lxml. Returns a ParsedDocument only; no index, no Flask.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import feedparser
from lxml import etree

from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.charset import decode
from connectors.charset import to_utf8_xml
from connectors.profile import parse_profile
from connectors.profile import uses_profile
from connectors.sniff import sniff
from feeds.profile import Location
from feeds.profile import Organisation

TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
MAX_TTL = timedelta(days=1)

_NOT_FEEDS = {
    "html": "an HTML page, not a feed",
    "json": "a JSON document, not an RSS or Atom feed (JSON Feed needs type: jsonfeed)",
    "unknown": "not an RSS or Atom feed",
}


class RssConnector:
    """Feeds in any RSS or Atom dialect; ``rss`` and ``atom`` in YAML both name it."""

    source_type = "rss"
    accept = (
        "application/atom+xml, application/rss+xml;q=0.9, application/xml;q=0.5, "
        "*/*;q=0.1"
    )

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        kind = sniff(result.body)
        if kind == "empty":
            raise ParseError(source.url, "empty body", "empty_body")
        if kind in _NOT_FEEDS:
            raise ParseError(source.url, _NOT_FEEDS[kind], "not_a_feed")
        text = decode(
            result.body,
            source.url,
            content_type=result.headers.get("Content-Type"),
            configured=source.options.get("encoding"),
        )
        body = to_utf8_xml(text)
        if uses_profile(body):  # every field of the offer feed profile
            return parse_profile(source, body)
        # Bytes, never a URL: feedparser would otherwise fetch outside our limits. The
        # final URL resolves relative links; the charset is ours, decided above. HTML
        # is sanitised once, by the hub (nh3), not by feedparser's slower sanitiser.
        parsed = feedparser.parse(
            body,
            response_headers={
                "content-location": result.url,
                "content-type": "application/xml; charset=utf-8",
            },
            sanitize_html=False,
        )
        if not parsed.get("version"):
            raise ParseError(source.url, "not an RSS or Atom feed", "not_a_feed")
        if parsed.get("bozo") and not _root_closed(text):
            # feedparser recovers from a cut-off document with the items it saw; taken
            # as complete, the rest would look withdrawn. A truncated feed is an error.
            raise ParseError(
                source.url, "the document ends before its root element closes", "parse"
            )
        feed_language = _language(parsed.feed.get("language"))
        items, skipped = [], 0
        for entry in parsed.entries:
            item = _to_raw_item(entry, feed_language)
            if item is None:
                skipped += 1
            else:
                items.append(item)
        deleted, complete = _extensions(body)
        return ParsedDocument(
            items=items,
            deleted=deleted,
            complete=complete,
            ttl=_ttl(parsed.feed.get("ttl")),
            skipped=skipped,
            next_page=_next_page(parsed.feed),
        )


def _next_page(feed: Any) -> str | None:
    """The ``<link rel="next">`` of a paged feed (RFC 5005 §3; in RSS 2.0 as
    ``atom:link``), made absolute by feedparser."""
    for link in feed.get("links", ()):
        if link.get("rel") == "next" and (href := (link.get("href") or "").strip()):
            return str(href)
    return None


def _to_raw_item(entry: Any, feed_language: str | None) -> RawItem | None:
    title = (entry.get("title") or "").strip()
    link = entry.get("link") or None
    if not title and not link:
        return None
    # dict.get: feedparser's own get() maps a missing "updated" to "published" (and
    # warns, see feedparser issue 310).
    published = _time(dict.get(entry, "published_parsed"), dict.get(entry, "published"))
    updated = _time(dict.get(entry, "updated_parsed"), dict.get(entry, "updated"))
    content = None
    language = None
    if entry.get("content"):
        content = entry.content[0].get("value")
        language = _language(entry.content[0].get("language"))
    language = language or _language(
        entry.get("language")
        or (entry.get("summary_detail") or {}).get("language")
        or (entry.get("title_detail") or {}).get("language")
    )
    company, place = _job_manager(entry)
    return RawItem(
        guid=(entry.get("id") or "").strip() or None,
        link=link,
        title=title,
        summary=entry.get("summary"),
        content=content,
        published=published,
        updated=updated,
        author=entry.get("author"),
        categories=tuple(t["term"] for t in entry.get("tags", []) if t.get("term")),
        language=language or feed_language,
        kind="job-offer" if company or place else None,
        organisation=Organisation(name=company) if company else None,
        location=Location(town=place) if place else None,
    )


def _job_manager(entry: Any) -> tuple[str | None, str | None]:
    """The company and town of a WP Job Manager listing (``job_listing:company``,
    ``job_listing:location``, e.g. "Białystok, Polska": its first part)."""
    company = (entry.get("job_listing_company") or "").strip() or None
    location = (entry.get("job_listing_location") or "").split(",")[0].strip()
    return company, location or None


# Trailing junk after the end tag (a PHP notice...) is tolerated; a missing one is not.
_ROOT_CLOSE = re.compile(r"</(?:[A-Za-z0-9_.-]+:)?(rss|feed|RDF)\s*>")


def _root_closed(text: str) -> bool:
    """Does the end of the document hold the end tag of its feed root?"""
    return _ROOT_CLOSE.search(text[-4096:]) is not None


def _extensions(body: bytes) -> tuple[tuple[str, ...], bool | None]:
    """RFC 6721 tombstone refs and RFC 5005 completeness, when the document has them."""
    if TOMBSTONES_NS.encode() not in body and HISTORY_NS.encode() not in body:
        return (), None
    try:
        # A parser per call: lxml parsers must not be shared between pool threads.
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            recover=True,
        )
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return (), None
    if root is None:
        return (), None
    refs = tuple(
        ref.strip()
        for el in root.iter(f"{{{TOMBSTONES_NS}}}deleted-entry")
        if (ref := el.get("ref"))
    )
    complete = True if root.find(f"{{{HISTORY_NS}}}complete") is not None else None
    return refs, complete


# An ISO 8601 date as written, for checking what feedparser's W3C-DTF parser rolls
# over (2026-02-30 -> 2 March, month 13 -> January of the next year).
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d))?)?")
MIN_YEAR = 1990  # earlier dates are placeholders (0001-01-01, 1970-01-01), not dates


def _time(value: Any, raw: Any) -> datetime | None:
    """The UTC datetime of a feedparser date, or None when there is none or when
    the written date is impossible (rejected, never rolled over)."""
    if not value:
        return None
    match = _ISO_DATE.match(raw) if isinstance(raw, str) else None
    if match:
        try:
            datetime(*(int(part) for part in match.groups() if part is not None))
        except ValueError:
            return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment if moment.year >= MIN_YEAR else None


def _ttl(value: Any) -> timedelta | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return min(timedelta(minutes=minutes), MAX_TTL) if minutes > 0 else None


def _language(value: str | None) -> str | None:
    if not value:
        return None
    return value.split("-")[0].split("_")[0].strip().lower() or None
