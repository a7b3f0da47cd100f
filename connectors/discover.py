"""``type: discover``: a source given as a homepage finds its feed through
``<link rel="alternate">`` (JSON Feed, Atom, RSS; comment feeds left out), else the
common WordPress paths, and parses it with the ``rss`` or ``jsonfeed`` connector.

The feed found is kept in the crawl state and read directly next time; it is
discovered again when it fails. No network of its own (the harvester's
``GetPage``); no index, no Flask.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from typing import Literal
from urllib.parse import urljoin
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from pydantic import BaseModel
from pydantic import ConfigDict

from connectors.base import ConnectorError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import Source
from connectors.jsonfeed import JsonFeedConnector
from connectors.jsonld import html_tree
from connectors.rss import RssConnector
from connectors.sniff import sniff

FEED_TYPES = {  # the link types of feeds, and the name ``prefer:`` gives them
    "application/feed+json": "jsonfeed",
    "application/atom+xml": "atom",
    "application/rss+xml": "rss",
}
ORDER = ("jsonfeed", "atom", "rss")  # richer first: the offer profile is Atom or JSON
WORDPRESS = ("feed/", "?feed=rss2", "feed/atom/")
FEED_ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml;q=0.9, "
    "application/xml;q=0.5, */*;q=0.1"
)
_COMMENTS = re.compile(r"comments/feed|feed=comments", re.I)  # WordPress comment feeds


class DiscoverOptions(BaseModel):
    """The ``discover`` keys of a source: ``prefer:`` one feed format over the
    others when the homepage links several."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefer: Literal["jsonfeed", "atom", "rss"] | None = None


class DiscoverConnector:
    """``type: discover`` in YAML."""

    source_type = "discover"
    accept = (
        "text/html, application/xhtml+xml;q=0.9, application/atom+xml;q=0.8, "
        "application/rss+xml;q=0.8, application/feed+json;q=0.8, */*;q=0.1"
    )
    options_model = DiscoverOptions

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        """A homepage that is itself a feed (no page is fetched here)."""
        return parse_feed(source, result)

    def crawl(
        self,
        source: Source,
        first: FetchResult,
        get: GetPage,
        state: Mapping[str, Any],
    ) -> ParsedDocument:
        if sniff(first.body) in ("feed", "json", "xml"):  # the url is a feed already
            return dataclasses.replace(parse_feed(source, first), state={})
        notes: list[str] = []
        tried: dict[str, ConnectorError] = {}
        remembered = state.get("feed")
        if isinstance(remembered, str):
            document = _try(source, get, remembered, tried)
            if document is not None:
                return document
            notes.append(
                f"the feed {remembered} failed ({tried[remembered].message}); "
                "looked for it again"
            )
        prefer = source.options.get("prefer")
        linked = feed_links(source, first, prefer)
        candidates = linked or [urljoin(_directory(first.url), p) for p in WORDPRESS]
        for url in candidates:
            if url in tried:
                continue
            document = _try(source, get, url, tried)
            if document is not None:
                warnings = (*document.warnings, *notes)
                return dataclasses.replace(document, warnings=warnings)
        for url in linked:  # a linked feed exists but fails: that is the error
            error = tried[url]
            raise ConnectorError(
                source.url, f"the linked feed failed: {error}", error.error_class
            )
        raise ParseError(
            source.url,
            'no feed found: no <link rel="alternate"> to a feed on the page; tried '
            + "; ".join(f"{url} ({e.message})" for url, e in tried.items()),
            "not_a_feed",
        )


def feed_links(
    source: Source, page: FetchResult, prefer: str | None = None
) -> list[str]:
    """Absolute URLs of the feeds a page links with ``rel="alternate"``, the
    ``prefer``red format first, then JSON Feed, Atom, RSS, each in page order."""
    tree, base = html_tree(source, page)
    order = [prefer, *ORDER] if prefer else list(ORDER)
    found: list[tuple[int, int, str]] = []
    for n, link in enumerate(tree.iter("link")):
        rel = (link.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        href = (link.get("href") or "").strip()
        if "alternate" not in rel or kind is None or not href or _COMMENTS.search(href):
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https"):
            found.append((order.index(kind), n, url))
    return list(dict.fromkeys(url for *_, url in sorted(found)))


def parse_feed(source: Source, result: FetchResult) -> ParsedDocument:
    """A feed by its first bytes: JSON Feed, else RSS or Atom (the offer profile
    included). Errors name the feed's URL."""
    feed = dataclasses.replace(source, url=result.url)
    if sniff(result.body) == "json":
        return JsonFeedConnector().parse(feed, result)
    return RssConnector().parse(feed, result)


def _try(
    source: Source, get: GetPage, url: str, tried: dict[str, ConnectorError]
) -> ParsedDocument | None:
    """The feed at ``url`` with the state to find it again, or None (the error is
    in ``tried``). The page cap ends the search."""
    try:
        document = parse_feed(source, get(url, accept=FEED_ACCEPT))
    except PageCapReached:
        raise
    except ConnectorError as e:
        tried[url] = e
        return None
    return dataclasses.replace(document, state={"feed": url})


def _directory(url: str) -> str:
    """The homepage's folder, where WordPress answers ``feed/``: query and fragment
    dropped, a trailing slash added (``/blog`` -> ``/blog/``)."""
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
