"""Writes offers as Atom 1.0 + eco and JSON Feed 1.1 + _ecoop documents (lxml, json).
Pure: no network, files or clock; never sanitises HTML; refuses (FeedValueError)
what the validator would call an error."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lxml import etree

from feeds.profile import ATOM_NS
from feeds.profile import ECO_NS
from feeds.profile import EXTENSION
from feeds.profile import HISTORY_NS
from feeds.profile import JSON_EXTENSION
from feeds.profile import JSON_FEED_VERSION
from feeds.profile import PROFILE_VERSION
from feeds.profile import TOMBSTONE_NS
from feeds.profile import XML_NS
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedValueError
from feeds.profile import Notes
from feeds.profile import Offer
from feeds.profile import Severity
from feeds.profile import format_datetime
from feeds.profile import is_absolute_iri
from feeds.profile import is_language_tag
from feeds.profile import read_extension
from feeds.validator import validate

__all__ = ["clean_text", "write_atom", "write_json_feed"]

OfferLike = Offer | Mapping[str, Any]
DeletedLike = Deleted | Mapping[str, Any]
InfoLike = FeedInfo | Mapping[str, Any]

# XML 1.0 §2.2 Char; everything else (C0 controls but TAB LF CR, lone surrogates,
# U+FFFE, U+FFFF) is removed from every string, in both formats alike.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NSMAP = {None: ATOM_NS, "eco": ECO_NS, "at": TOMBSTONE_NS, "fh": HISTORY_NS}


def clean_text(value: str | None) -> str | None:
    """``value`` without XML-illegal characters and outer whitespace; None if empty."""
    if value is None:
        return None
    cleaned = _NOT_XML_CHAR.sub("", value).strip()
    return cleaned or None


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
    feed_info, items, gone = _prepare(info, offers, deleted)
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
    _sub(root, "updated", _dt(updated))
    _sub(_sub(root, "author"), "name", feed_info.author or feed_info.title)
    _link(root, "alternate", feed_info.link, "text/html")
    _link(root, "self", feed_info.self_url, "application/atom+xml")
    _link(root, "next", feed_info.next_url)
    _link(root, "prev-archive", feed_info.prev_archive_url)
    if feed_info.complete and not feed_info.next_url:
        _sub(root, "complete", ns=HISTORY_NS)  # RFC 5005 §2
    if feed_info.archive:
        _sub(root, "archive", ns=HISTORY_NS)  # RFC 5005 §4
    _sub(root, "complete", "true" if feed_info.complete else "false", ECO_NS)
    for offer, item in zip(items, doc["items"], strict=True):
        _atom_entry(root, offer, item.get(JSON_EXTENSION, {}))
    for tomb in ext.get("deleted", ()):
        _sub(root, "deleted-entry", ns=TOMBSTONE_NS).attrib.update(tomb)
    document = etree.tostring(
        root, xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return _refuse_errors(document)


def write_json_feed(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike] = ()
) -> bytes:
    """A JSON Feed 1.1 document (UTF-8) with the ``_ecoop`` extension.

    Same arguments and errors as :func:`write_atom` (without its defaults).
    Tombstones go to the feed-level ``_ecoop.deleted`` list: an item needs content,
    and plain JSON Feed readers would show a tombstone item as an offer.
    """
    doc = _shape(*_prepare(info, offers, deleted))
    try:
        text = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError as e:  # NaN or infinity in a coordinate
        raise FeedValueError(f"location: {e}") from e
    return _refuse_errors((text + "\n").encode("utf-8"))


def _shape(info: FeedInfo, offers: list[Offer], gone: list[Deleted]) -> dict[str, Any]:
    """The JSON Feed document; the Atom writer transcribes its `_ecoop` objects."""
    ext: dict[str, Any] = {"about": ECO_NS, "version": PROFILE_VERSION}
    ext["id"] = info.id
    ext |= {"complete": info.complete, "archive": info.archive or None}
    ext |= {"prev_archive_url": info.prev_archive_url}
    ext |= {"updated": _dt(info.updated, "info.updated")}
    when = [_dt(d.when, f"deleted[{i}].when") for i, d in enumerate(gone)]
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
    item["date_published"] = _dt(offer.published, f"{where}.published")
    item["date_modified"] = _dt(offer.updated, f"{where}.updated")
    item["language"] = offer.language
    item["tags"] = list(dict.fromkeys(c.label or c.term for c in offer.categories))
    ext: dict[str, Any] = {"kind": offer.kind, "group": offer.group}
    ext["valid_through"] = _dt(offer.valid_through, f"{where}.valid_through")
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
    _sub(entry, "published", _dt(offer.published))
    _sub(entry, "updated", _dt(offer.updated or offer.published))
    if offer.summary:
        _sub(entry, "summary", offer.summary).set("type", "text")
    if offer.content_html:
        _sub(entry, "content", offer.content_html).set("type", "html")
    for category in ext.get("categories", ()):
        _sub(entry, "category").attrib.update(category)
    _eco(entry, {k: v for k, v in ext.items() if k not in ("categories", "alternates")})


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
    el = etree.Element(f"{{{ns}}}{tag}")
    if text is not None:
        el.text = text or None
        parent.append(el)
    return el


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


# --- checking and cleaning (shared) ---


def _prepare(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike]
) -> tuple[FeedInfo, list[Offer], list[Deleted]]:
    """Coerced, cleaned copies; refuses what cannot be written at all. Everything
    else is checked on the written document by the validator (see _refuse_errors)."""
    feed_info = _clean(_coerce(FeedInfo, info, "info"))
    for name in ("link", "self_url", "next_url", "prev_archive_url"):
        _check_url(getattr(feed_info, name), f"info.{name}", optional=name != "link")
    _check_lang(feed_info.language, "info.language")
    items = [_clean(_coerce(Offer, o, f"offers[{i}]")) for i, o in enumerate(offers)]
    for i, offer in enumerate(items):
        where = f"offers[{i}]"
        _check_url(offer.link, f"{where}.link")
        _check_lang(offer.language, f"{where}.language")
        for lang, url in offer.alternates.items():
            _check_lang(lang, f"{where}.alternates")
            _check_url(url, f"{where}.alternates[{lang!r}]")
    gone = [_clean(_coerce(Deleted, d, f"deleted[{i}]")) for i, d in enumerate(deleted)]
    return feed_info, items, gone


def _coerce(cls: type[Any], value: object, where: str) -> Any:
    """An instance of ``cls`` from itself or from a mapping with the same keys: nested
    mappings or dataclasses, RFC 3339 strings for dates, a bare string as a free tag.
    """
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise FeedValueError(f"{where}: expected a mapping, not {type(value).__name__}")
    data, notes = dict(value), Notes()

    def at(key: str) -> tuple[str, None]:
        return f"{where}.{key}", None

    if cls is Offer:
        extension = {k: data.pop(k) for k in EXTENSION if k in data}
        cats = extension.get("categories") or ()
        extension["categories"] = [
            {"term": c} if isinstance(c, str) else c for c in cats
        ]
        data |= read_extension(_plain(extension), at, notes)
    for key in ("published", "updated", "when"):
        if key in data:
            data[key] = notes.walk(data[key], "date", key, at)
    if errors := [p for p in notes.problems if p.severity == Severity.ERROR]:
        raise FeedValueError(f"{errors[0].location}: {errors[0].message}")
    if unknown := sorted(set(data) - {f.name for f in dataclasses.fields(cls)}):
        raise FeedValueError(f"{where}: unknown key {unknown[0]!r}")
    try:
        return cls(**data)
    except TypeError as e:  # a required key is missing
        raise FeedValueError(f"{where}: {e}") from e


def _plain(value: object) -> Any:
    """Nested dataclasses as dicts, so that read_extension checks every value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _refuse_errors(document: bytes) -> bytes:
    """The document, unless the validator finds an error in it (entry[n] and
    items[n-1] are offers[n-1])."""
    if errors := validate(document).errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise FeedValueError(f"{errors[0].location}: {errors[0].message}{more}")
    return document


def _clean(obj: Any) -> Any:
    """A copy of a profile dataclass with every string cleaned (see clean_text)."""
    if isinstance(obj, enum.Enum):  # OfferKind is a str too
        return obj
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, tuple):
        return tuple(c for c in (_clean(v) for v in obj) if c is not None)
    if isinstance(obj, dict):
        cleaned = {clean_text(k): _clean(v) for k, v in obj.items()}
        return {k: v for k, v in cleaned.items() if k and v is not None}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: _clean(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
        return dataclasses.replace(obj, **changes)
    return obj


def _check_url(value: str | None, where: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not value or not re.match(r"https?://[^\s/]", value):
        raise FeedValueError(f"{where}: {value!r} is not an absolute http(s) URL")


def _check_lang(value: str | None, where: str) -> None:
    if value is not None and not is_language_tag(value):
        raise FeedValueError(f"{where}: {value!r} is not a language tag like 'pl'")


def _dt(value: datetime | None, where: str = "") -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise FeedValueError(f"{where}: expected a datetime, got {value!r}")
    try:
        return format_datetime(value)
    except FeedValueError as e:
        raise FeedValueError(f"{where}: {e}") from e
