"""RSS 0.9x/1.0/2.0 and Atom: plain well-formed feeds through the fast lxml reader of
connectors.syndication, everything else (broken XML, RSS 1.0, odd dates...) through
feedparser; RFC 6721 tombstones and RFC 5005 ``fh:complete`` via lxml. Returns a
ParsedDocument only; no index, no Flask.
"""

from __future__ import annotations

import calendar
import codecs
import dataclasses
import re
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import BinaryIO

import feedparser

from connectors import syndication
from connectors.base import Collected
from connectors.base import FetchResult
from connectors.base import Items
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.base import handed
from connectors.charset import utf8_as_is
from connectors.charset import xml_as_utf8
from connectors.feeditems import dated
from connectors.feeditems import extensions
from connectors.feeditems import item_language
from connectors.feeditems import language
from connectors.feeditems import make_item
from connectors.feeditems import ttl
from connectors.profile import stream_profile
from connectors.profile import uses_profile
from connectors.sniff import sniff
from feeds._xml import peek

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
    reads_files = True  # a body left in its file (connectors.base.stream)

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        items = Collected()
        return dataclasses.replace(
            self.stream(source, result, items), items=items.items
        )

    def stream(
        self, source: Source, result: FetchResult, items: Items
    ) -> ParsedDocument:
        """Plain feeds' items as the fast reader reads them (a big feed's never all
        in memory); the others' after the whole document (connectors.base). A feed
        left in its file (``result.body_path``), in UTF-8, is parsed from there as
        it is read: its bytes are never all in memory either."""
        if result.body_path is not None:
            with open(result.body_path, "rb") as file:
                if sniff(peek(file, 4096)) == "feed" and utf8_as_is(file):
                    file.seek(0)
                    return _read(source, result, file, items)
            result = result.loaded()  # to be recoded, or refused
        kind = sniff(result.body)
        if kind == "empty":
            raise ParseError(source.url, "empty body", "empty_body")
        if kind in _NOT_FEEDS:
            raise ParseError(source.url, _NOT_FEEDS[kind], "not_a_feed")
        body = xml_as_utf8(
            result.body,
            source.url,
            content_type=result.headers.get("Content-Type"),
            configured=source.options.get("encoding"),
        )
        return _read(source, result, body, items)


def _read(
    source: Source, result: FetchResult, body: bytes | BinaryIO, items: Items
) -> ParsedDocument:
    """UTF-8 XML (or a file of it, at its start) read by the offer profile's
    reader, else the fast reader, else feedparser (a file is loaded for it)."""
    if uses_profile(peek(body, 65536)):  # every field of the offer feed profile
        return stream_profile(source, body, items)
    document = syndication.stream(body, result.url, items)  # plain feeds, fast
    if document is not None:
        return document
    if not isinstance(body, bytes):
        body = result.loaded().body.removeprefix(codecs.BOM_UTF8)
    return handed(parse_with_feedparser(body, source.url, result.url), items)


def parse_with_feedparser(body: bytes, source_url: str, url: str) -> ParsedDocument:
    """Any RSS/Atom dialect, broken XML included: UTF-8 ``body`` fetched for the
    source at ``source_url``, from ``url`` after redirects.

    Raises:
        ParseError: not a feed, or a feed cut off before its end.
    """
    # Bytes, never a URL: feedparser would otherwise fetch outside our limits. The
    # final URL resolves relative links; the charset is ours, decided by the caller.
    # HTML is sanitised once, by the hub (nh3), not by feedparser's slower sanitiser.
    parsed = feedparser.parse(
        body,
        response_headers={
            "content-location": url,
            "content-type": "application/xml; charset=utf-8",
        },
        sanitize_html=False,
    )
    if not parsed.get("version"):
        raise ParseError(source_url, "not an RSS or Atom feed", "not_a_feed")
    tail = body[-16384:].decode("utf-8", "replace")  # >= its last 4096 characters
    if parsed.get("bozo") and not _root_closed(tail):
        # feedparser recovers from a cut-off document with the items it saw; taken
        # as complete, the rest would look withdrawn. A truncated feed is an error.
        raise ParseError(
            source_url, "the document ends before its root element closes", "parse"
        )
    feed_language = language(parsed.feed.get("language"))
    items, skipped = [], 0
    for entry in parsed.entries:
        item = _to_raw_item(entry, feed_language)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    deleted, complete = extensions(body)
    return ParsedDocument(
        items=items,
        deleted=deleted,
        complete=complete,
        ttl=ttl(parsed.feed.get("ttl")),
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
    content = entry.content[0] if entry.get("content") else {}
    return make_item(
        title=entry.get("title"),
        link=entry.get("link"),
        guid=entry.get("id"),
        summary=entry.get("summary"),
        content=content.get("value"),
        # dict.get: feedparser's own get() maps a missing "updated" to "published"
        # (and warns, see feedparser issue 310).
        published=_time(
            dict.get(entry, "published_parsed"), dict.get(entry, "published")
        ),
        updated=_time(dict.get(entry, "updated_parsed"), dict.get(entry, "updated")),
        author=entry.get("author"),
        categories=(t["term"] for t in entry.get("tags", [])),
        language=item_language(
            content.get("language"),
            entry.get("language"),
            (entry.get("summary_detail") or {}).get("language"),
            (entry.get("title_detail") or {}).get("language"),
        )
        or feed_language,
        company=entry.get("job_listing_company"),
        location=entry.get("job_listing_location"),
    )


# Trailing junk after the end tag (a PHP notice...) is tolerated; a missing one is not.
_ROOT_CLOSE = re.compile(r"</(?:[A-Za-z0-9_.-]+:)?(rss|feed|RDF)\s*>")


def _root_closed(text: str) -> bool:
    """Does the end of the document hold the end tag of its feed root?"""
    return _ROOT_CLOSE.search(text[-4096:]) is not None


def _time(value: Any, raw: Any) -> datetime | None:
    """The UTC datetime of a feedparser date, or None (see feeditems.dated)."""
    if not value:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return dated(moment, raw)
