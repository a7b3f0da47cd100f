"""RSS 0.9x/1.0/2.0 and Atom through feedparser.

Returns RawItem only; no index, no Flask.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC
from datetime import datetime
from typing import Any

import feedparser

from connectors.base import FetchResult
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source


class RssConnector:
    """Feeds in any RSS or Atom dialect; ``rss`` and ``atom`` in YAML both name it."""

    source_type = "rss"
    accept = (
        "application/atom+xml, application/rss+xml;q=0.9, "
        "application/xml;q=0.5, */*;q=0.1"
    )

    def parse(self, source: Source, result: FetchResult) -> list[RawItem]:
        # Bytes, never a URL: feedparser would otherwise fetch outside our limits.
        parsed = feedparser.parse(
            result.body,
            response_headers={k.lower(): v for k, v in result.headers.items()},
        )
        if not parsed.get("version") and not parsed.entries:
            raise ParseError(source.url, "not an RSS or Atom feed") from parsed.get(
                "bozo_exception"
            )
        feed_language = _language(parsed.feed.get("language"))
        items = []
        for entry in parsed.entries:
            item = _to_raw_item(entry, feed_language)
            if item is not None:
                items.append(item)
        return items


def _to_raw_item(entry: Any, feed_language: str | None) -> RawItem | None:
    title = (entry.get("title") or "").strip()
    link = entry.get("link") or None
    if not title and not link:
        return None
    # dict.get: feedparser's own get() maps a missing "updated" to "published"
    # (and warns).
    published = _time(dict.get(entry, "published_parsed"))
    updated = _time(dict.get(entry, "updated_parsed"))
    guid = entry.get("id") or link or _hash_id(title, published)
    content = None
    if entry.get("content"):
        content = entry.content[0].get("value")
    language = None
    if entry.get("content"):
        language = _language(entry.content[0].get("language"))
    return RawItem(
        guid=guid,
        link=link,
        title=title,
        summary=entry.get("summary"),
        content=content,
        published=published,
        updated=updated,
        author=entry.get("author"),
        categories=tuple(t["term"] for t in entry.get("tags", []) if t.get("term")),
        language=language or feed_language,
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _language(value: str | None) -> str | None:
    if not value:
        return None
    return value.split("-")[0].split("_")[0].strip().lower() or None


def _hash_id(title: str, published: datetime | None) -> str:
    stamp = published.isoformat() if published else ""
    return "sha256:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()[:32]
