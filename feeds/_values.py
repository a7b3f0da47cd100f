"""What a writer is given, made writable: mappings coerced to the profile's
dataclasses, strings cleaned of XML-illegal characters, links and language tags
checked; and a written document refused when the validator finds an error in it.
Pure: no I/O, no clock. Shared by the Atom, RSS and JSON Feed writers (feeds.writer).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from feeds.profile import EXTENSION
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedValueError
from feeds.profile import Notes
from feeds.profile import Offer
from feeds.profile import Severity
from feeds.profile import format_datetime
from feeds.profile import is_language_tag
from feeds.profile import read_extension
from feeds.validator import validate

OfferLike = Offer | Mapping[str, Any]
DeletedLike = Deleted | Mapping[str, Any]
InfoLike = FeedInfo | Mapping[str, Any]

# XML 1.0 §2.2 Char; everything else (C0 controls but TAB LF CR, lone surrogates,
# U+FFFE, U+FFFF) is removed from every string, in every format alike.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_text(value: str | None) -> str | None:
    """``value`` without XML-illegal characters and outer whitespace; None if empty."""
    if value is None:
        return None
    cleaned = _NOT_XML_CHAR.sub("", value).strip()
    return cleaned or None


def prepare(
    info: InfoLike, offers: Iterable[OfferLike], deleted: Iterable[DeletedLike]
) -> tuple[FeedInfo, list[Offer], list[Deleted]]:
    """Coerced, cleaned copies; refuses what cannot be written at all. Everything
    else is checked on the written document by the validator (see refuse_errors)."""
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


def refuse_errors(document: bytes) -> bytes:
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


def dt(value: datetime | None, where: str = "") -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise FeedValueError(f"{where}: expected a datetime, got {value!r}")
    try:
        return format_datetime(value)
    except FeedValueError as e:
        raise FeedValueError(f"{where}: {e}") from e
