"""Writes offers as Atom 1.0 + eco, RSS 2.0 + eco and JSON Feed 1.1 + _ecoop
documents (lxml, json). Pure: no network, files or clock; never sanitises HTML;
refuses (FeedValueError) what the validator would call an error. What the writers are
given is coerced, cleaned and checked in feeds._values."""

from __future__ import annotations

import dataclasses
import enum
import html
import json
from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime as rfc822
from typing import Any

from lxml import etree

from feeds._values import DeletedLike
from feeds._values import InfoLike
from feeds._values import OfferLike
from feeds._values import clean_text
from feeds._values import dt
from feeds._values import prepare
from feeds._values import refuse_errors
from feeds.profile import ATOM_NS
from feeds.profile import ECO_NS
from feeds.profile import HISTORY_NS
from feeds.profile import JSON_EXTENSION
from feeds.profile import JSON_FEED_VERSION
from feeds.profile import PROFILE_VERSION
from feeds.profile import TOMBSTONE_NS
from feeds.profile import XML_NS
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedValueError
from feeds.profile import Offer
from feeds.profile import is_absolute_iri

__all__ = ["clean_text", "write_atom", "write_json_feed", "write_rss"]

_NSMAP = {None: ATOM_NS, "eco": ECO_NS, "at": TOMBSTONE_NS, "fh": HISTORY_NS}
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"  # content:encoded
_RSS_NSMAP = {"atom": ATOM_NS, "eco": ECO_NS, "at": TOMBSTONE_NS, "fh": HISTORY_NS}
_RSS_NSMAP |= {"content": CONTENT_NS}


def write_atom(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike] = ()
) -> bytes:
    """An Atom 1.0 feed document (UTF-8) with the eco extension.

    Args:
        info: feed-level data; ``author`` defaults to ``title`` and ``updated`` to the
            newest entry or tombstone (RFC 4287 §4.1.1 requires both).
        offers: Offer objects or mappings with the same keys; an offer's ``updated``
            defaults to its ``published``.
        deleted: withdrawn offers, written as RFC 6721 ``at:deleted-entry``.

    Raises:
        FeedValueError: a value the profile does not allow (naive datetime, unknown
            kind, bad country code, relative link, duplicate id ...).
    """
    feed_info, items, gone = prepare(info, offers, deleted)
    for i, offer in enumerate(items):
        if not is_absolute_iri(offer.id):  # RFC 4287 §4.2.6
            message = f"offers[{i}].id: {offer.id!r} is not an IRI; use e.g. "
            raise FeedValueError(message + "tag:example.com,2026:offer-17 or a URL")
    doc = _shape(feed_info, items, gone)
    ext = doc[JSON_EXTENSION]
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap=_NSMAP)
    _lang(root, feed_info.language)
    _sub(root, "id", feed_info.id)
    _sub(root, "title", feed_info.title)
    _sub(root, "subtitle", feed_info.subtitle)
    stamps = [o.updated or o.published for o in items] + [d.when for d in gone]
    updated = feed_info.updated or max((s for s in stamps if s), default=None)
    if updated is None:
        raise FeedValueError("info.updated: required when the feed has no entries")
    _sub(root, "updated", dt(updated))
    _sub(_sub(root, "author"), "name", feed_info.author or feed_info.title)
    _link(root, "alternate", feed_info.link, "text/html")
    _link(root, "self", feed_info.self_url, "application/atom+xml")
    _history(root, feed_info)
    for offer, item in zip(items, doc["items"], strict=True):
        _atom_entry(root, offer, item.get(JSON_EXTENSION, {}))
    for tomb in ext.get("deleted", ()):
        _sub(root, "deleted-entry", ns=TOMBSTONE_NS).attrib.update(tomb)
    document = etree.tostring(
        root, xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return refuse_errors(document)


def write_json_feed(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike] = ()
) -> bytes:
    """A JSON Feed 1.1 document (UTF-8) with the ``_ecoop`` extension.

    Same arguments and errors as :func:`write_atom` (without its defaults).
    Tombstones go to the feed-level ``_ecoop.deleted`` list: an item needs content,
    and plain JSON Feed readers would show a tombstone item as an offer.
    """
    doc = _shape(*prepare(info, offers, deleted))
    try:
        text = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError as e:  # NaN or infinity in a coordinate
        raise FeedValueError(f"location: {e}") from e
    return refuse_errors((text + "\n").encode("utf-8"))


def write_rss(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike] = ()
) -> bytes:
    """An RSS 2.0 document (UTF-8) whose items carry the eco extension (PROFILE.md,
    plain feeds). Same arguments and errors as :func:`write_atom`.

    RSS 2.0 has fewer fields, so a round trip through feeds.reader keeps less: dates
    are RFC 822 ``pubDate`` (an offer's ``published``, else its ``updated``), the
    feed's ``id`` becomes its self link, and ``author``, the offers' ``updated``,
    ``language`` (written as ``xml:lang``, which RSS readers ignore), ``alternates``
    and category labels are not read back. The body is ``content:encoded`` when there
    is a summary too (the summary then goes, escaped, to ``description``); a summary
    alone is the escaped ``description`` and reads back as the body.
    """
    feed_info, items, gone = prepare(info, offers, deleted)
    doc = _shape(feed_info, items, gone)
    ext = doc[JSON_EXTENSION]
    rss = etree.Element("rss", nsmap=_RSS_NSMAP, version="2.0")
    channel = _sub(rss, "channel", ns="")
    _sub(channel, "title", feed_info.title, "")
    _sub(channel, "link", feed_info.link, "")
    # RSS 2.0 requires a description; the title is the best one we always have
    _sub(channel, "description", feed_info.subtitle or feed_info.title, "")
    if feed_info.language:
        _sub(channel, "language", feed_info.language, "")
    stamps = [o.updated or o.published for o in items] + [d.when for d in gone]
    updated = feed_info.updated or max((s for s in stamps if s), default=None)
    if updated is not None:
        _sub(channel, "lastBuildDate", _rfc822(updated, "info.updated"), "")
    _link(channel, "self", feed_info.self_url, "application/rss+xml")
    _history(channel, feed_info)
    for i, (offer, item) in enumerate(zip(items, doc["items"], strict=True)):
        _rss_item(channel, offer, item.get(JSON_EXTENSION, {}), f"offers[{i}]")
    for tomb in ext.get("deleted", ()):
        _sub(channel, "deleted-entry", ns=TOMBSTONE_NS).attrib.update(tomb)
    document = etree.tostring(
        rss, xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return refuse_errors(document)


def _shape(info: FeedInfo, offers: list[Offer], gone: list[Deleted]) -> dict[str, Any]:
    """The JSON Feed document; the Atom writer transcribes its `_ecoop` objects."""
    ext: dict[str, Any] = {"about": ECO_NS, "version": PROFILE_VERSION}
    ext["id"] = info.id
    ext |= {"complete": info.complete, "archive": info.archive or None}
    ext |= {"prev_archive_url": info.prev_archive_url}
    ext |= {"updated": dt(info.updated, "info.updated")}
    when = [dt(d.when, f"deleted[{i}].when") for i, d in enumerate(gone)]
    ext["deleted"] = [
        {"ref": d.ref, "when": w} for d, w in zip(gone, when, strict=True)
    ]
    doc: dict[str, Any] = {"version": JSON_FEED_VERSION, "title": info.title}
    doc |= {"home_page_url": info.link, "feed_url": info.self_url}
    doc |= {"description": info.subtitle, "next_url": info.next_url}
    doc |= {"language": info.language}
    doc["authors"] = [{"name": info.author}] if info.author else None
    doc[JSON_EXTENSION] = ext
    pruned: dict[str, Any] = _pruned(doc)
    items = [_json_item(offer, f"offers[{i}]") for i, offer in enumerate(offers)]
    pruned["items"] = _pruned(items)  # required, even when empty
    return pruned


def _json_item(offer: Offer, where: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": offer.id, "url": offer.link, "title": offer.title}
    item["summary"] = offer.summary
    if offer.content_html:
        item["content_html"] = offer.content_html
    else:  # JSON Feed 1.1 requires content_html or content_text
        item["content_text"] = offer.summary or ""
    item["date_published"] = dt(offer.published, f"{where}.published")
    item["date_modified"] = dt(offer.updated, f"{where}.updated")
    item["language"] = offer.language
    item["tags"] = list(dict.fromkeys(c.label or c.term for c in offer.categories))
    ext: dict[str, Any] = {"kind": offer.kind, "group": offer.group}
    ext["valid_through"] = dt(offer.valid_through, f"{where}.valid_through")
    ext |= {"organisation": offer.organisation, "location": offer.location}
    ext |= {"contact": offer.contact, "categories": offer.categories}
    ext |= {"alternates": offer.alternates}
    item[JSON_EXTENSION] = ext
    return item


def _pruned(value: Any) -> Any:
    """JSON-ready: dataclasses as objects, tuples as lists, enums as their values,
    and no None, empty list or empty object (but "" stays: content_text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(value, list | tuple):
        return [_pruned(v) for v in value]
    return value


# --- Atom ---


def _atom_entry(root: etree._Element, offer: Offer, ext: dict[str, Any]) -> None:
    entry = _sub(root, "entry")
    _lang(entry, offer.language)
    _sub(entry, "id", offer.id)
    _sub(entry, "title", offer.title).set("type", "text")
    for lang, url in offer.alternates.items():
        _link(entry, "alternate", url, "text/html", lang)
    # the own link comes last: feedparser takes the last alternate as entry.link
    _link(entry, "alternate", offer.link, "text/html", offer.language)
    _sub(entry, "published", dt(offer.published))
    _sub(entry, "updated", dt(offer.updated or offer.published))
    if offer.summary:
        _sub(entry, "summary", offer.summary).set("type", "text")
    if offer.content_html:
        _sub(entry, "content", offer.content_html).set("type", "html")
    for category in ext.get("categories", ()):
        _sub(entry, "category").attrib.update(category)
    _eco(entry, {k: v for k, v in ext.items() if k not in ("categories", "alternates")})


# --- RSS 2.0 ---


def _rss_item(
    channel: etree._Element, offer: Offer, ext: dict[str, Any], where: str
) -> None:
    item = _sub(channel, "item", ns="")
    _lang(item, offer.language)
    _sub(item, "title", offer.title, "")
    _sub(item, "link", offer.link, "")
    guid = _sub(item, "guid", offer.id, "")
    if offer.id != offer.link:  # RSS 2.0: a guid is a permalink unless it says not
        guid.set("isPermaLink", "false")
    summary = html.escape(offer.summary) if offer.summary else None
    if offer.content_html and summary:
        _sub(item, "description", summary, "")
        _sub(item, "encoded", offer.content_html, CONTENT_NS)
    elif offer.content_html or summary:
        _sub(item, "description", offer.content_html or summary, "")
    if when := offer.published or offer.updated:
        _sub(item, "pubDate", _rfc822(when, f"{where}.published"), "")
    for category in ext.get("categories", ()):
        el = _sub(item, "category", category["term"], "")
        if scheme := category.get("scheme"):
            el.set("domain", scheme)
    _eco(item, {k: v for k, v in ext.items() if k not in ("categories", "alternates")})


def _rfc822(value: datetime, where: str) -> str:
    """RSS 2.0 dates: RFC 822 with a four-digit year (RFC 1123), in their own offset."""
    dt(value, where)  # refuses a naive datetime, naming the key
    return rfc822(value)


def _eco(parent: etree._Element, values: dict[str, Any]) -> None:
    """A `_ecoop` object as eco elements: snake_case keys become kebab-case names,
    identifiers become eco:identifier@scheme, capabilities eco:capability items."""
    for key, value in values.items():
        tag = key.replace("_", "-")
        if key == "identifiers":
            for scheme, ident in value.items():
                _sub(parent, "identifier", ident, ECO_NS).set("scheme", scheme)
        elif key == "capabilities":
            caps = _sub(parent, tag, ns=ECO_NS)
            for capability in value:
                _sub(caps, "capability", capability, ECO_NS)
        elif isinstance(value, dict):
            _eco(_sub(parent, tag, ns=ECO_NS), value)
        else:
            text = repr(float(value)) if isinstance(value, int | float) else value
            _sub(parent, tag, text, ECO_NS)


def _sub(
    parent: etree._Element, tag: str, text: str | None = "", ns: str = ATOM_NS
) -> etree._Element:
    """A new child element ``tag``; with ``text`` None, a detached one (not written)."""
    el = etree.Element(f"{{{ns}}}{tag}" if ns else tag)  # "": RSS's own elements
    if text is not None:
        el.text = text or None
        parent.append(el)
    return el


def _history(parent: etree._Element, feed_info: FeedInfo) -> None:
    """Paging, archives and completeness (RFC 5005; eco:complete), Atom and RSS."""
    _link(parent, "next", feed_info.next_url)
    _link(parent, "prev-archive", feed_info.prev_archive_url)
    if feed_info.complete and not feed_info.next_url:
        _sub(parent, "complete", ns=HISTORY_NS)  # RFC 5005 §2
    if feed_info.archive:
        _sub(parent, "archive", ns=HISTORY_NS)  # RFC 5005 §4
    _sub(parent, "complete", "true" if feed_info.complete else "false", ECO_NS)


def _link(
    parent: etree._Element,
    rel: str,
    href: str | None,
    type_: str | None = None,
    hreflang: str | None = None,
) -> None:
    if href:
        el = _sub(parent, "link")
        el.set("rel", rel)
        for name, value in (("type", type_), ("hreflang", hreflang)):
            if value:
                el.set(name, value)
        el.set("href", href)


def _lang(el: etree._Element, language: str | None) -> None:
    if language:
        el.set(f"{{{XML_NS}}}lang", language)
