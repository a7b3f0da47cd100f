"""What an RSS/Atom item becomes: the rules both readers of connectors.rss share (the
feedparser path and the fast lxml path of connectors.syndication), one copy each.

Pure: values in, RawItem out; no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from datetime import timedelta
from io import BytesIO
from typing import Any

from lxml import etree

from connectors.base import RawItem
from feeds.profile import HISTORY_NS
from feeds.profile import TOMBSTONE_NS
from feeds.profile import Location
from feeds.profile import Organisation

MAX_TTL = timedelta(days=1)
MIN_YEAR = 1990  # earlier dates are placeholders (0001-01-01, 1970-01-01), not dates

# An ISO 8601 date as written, for checking what feedparser's W3C-DTF parser rolls
# over (2026-02-30 -> 2 March, month 13 -> January of the next year).
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d))?)?")


def make_item(
    *,
    title: str | None,
    link: str | None,
    guid: str | None,
    summary: str | None,
    content: str | None,
    published: datetime | None,
    updated: datetime | None,
    author: str | None,
    categories: Iterable[str],
    language: str | None,
    company: str | None,
    location: str | None,
) -> RawItem | None:
    """The raw item of one entry, or None when it has neither title nor link.

    ``company`` and ``location`` are WP Job Manager's ``job_listing:company`` and
    ``job_listing:location`` (e.g. "Białystok, Polska": the town is its first part);
    either makes the item a job offer.
    """
    title = (title or "").strip()
    if not title and not link:
        return None
    company = (company or "").strip() or None
    town = (location or "").split(",")[0].strip() or None
    return RawItem(
        guid=(guid or "").strip() or None,
        link=link or None,
        title=title,
        summary=summary,
        content=content,
        published=published,
        updated=updated,
        author=author,
        categories=tuple(term for term in categories if term),
        language=language,
        kind="job-offer" if company or town else None,
        organisation=Organisation(name=company) if company else None,
        location=Location(town=town) if town else None,
    )


def item_language(content_language: str | None, *declared: str | None) -> str | None:
    """The language of the content, else the first of the item's other declarations
    (its own ``language`` element, then those of its summary and title)."""
    return language(content_language) or language(
        next((value for value in declared if value), None)
    )


def dated(moment: datetime | None, written: object) -> datetime | None:
    """``moment`` unless it is a placeholder (before MIN_YEAR) or the date as
    ``written`` is impossible: rejected, never rolled over."""
    if moment is None or moment.year < MIN_YEAR:
        return None
    match = _ISO_DATE.match(written) if isinstance(written, str) else None
    if match:
        try:
            year, month, day, hour, minute, second = (
                int(p or 0) for p in match.groups()
            )
            datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    return moment


def ttl(value: object) -> timedelta | None:
    """RSS ``ttl`` (minutes), capped at MAX_TTL."""
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return min(timedelta(minutes=minutes), MAX_TTL) if minutes > 0 else None


def language(value: str | None) -> str | None:
    """The primary subtag of a language tag, lower-cased (``pl-PL`` -> ``pl``)."""
    if not value:
        return None
    return value.split("-")[0].split("_")[0].strip().lower() or None


_DELETED_ENTRY = f"{{{TOMBSTONE_NS}}}deleted-entry"
_COMPLETE = f"{{{HISTORY_NS}}}complete"
EXTENSIONS = frozenset([_DELETED_ENTRY, _COMPLETE])  # the tags the two below read


def tombstone_ref(el: Any) -> str | None:
    """The ref of ``el`` if it is an RFC 6721 tombstone that has one."""
    if el.tag == _DELETED_ENTRY and (ref := el.get("ref")):
        return str(ref).strip()
    return None


def marks_complete(el: Any, level: int) -> bool:
    """Is ``el``, ``level`` elements below the feed's root (1: the root's child),
    an RFC 5005 completeness mark where §2 puts it: at the top of an Atom feed, in
    an RSS 2.0 channel?"""
    return el.tag == _COMPLETE and (
        level == 1 or (level == 2 and el.getparent().tag == "channel")
    )


def extensions(body: bytes) -> tuple[tuple[str, ...], bool | None]:
    """RFC 6721 tombstone refs and RFC 5005 completeness, when the document has them.

    Read in one streaming pass that drops each element of the feed's top levels
    once read: a complete feed of 100,000 entries as the hub's profile writes it
    (fh:complete) took the parsing worker from 628 to 960 MB as a whole tree.
    """
    if TOMBSTONE_NS.encode() not in body and HISTORY_NS.encode() not in body:
        return (), None
    refs: list[str] = []
    complete: bool | None = None
    depth = 0  # of the element an event is about: the root's is 0
    events = etree.iterparse(
        BytesIO(body),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        recover=True,
    )
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if (ref := tombstone_ref(el)) is not None:
                refs.append(ref)
            elif marks_complete(el, depth):
                complete = True
            if 1 <= depth <= 2:  # an entry, an item, a channel's child: read
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
    except etree.XMLSyntaxError:
        return (), None
    return tuple(refs), complete
