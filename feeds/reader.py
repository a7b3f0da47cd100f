"""Reads Atom / RSS 2.0 (eco elements) and JSON Feed (_ecoop) into profile objects
and the problems met, whole (``read``) or handing each offer over as it is read
(``stream``). Pure: never fetches; XML comes transcribed into the JSON Feed shape by
feeds._xml, so that one builder serves every format."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import BinaryIO

import ijson

from feeds._xml import Locate
from feeds._xml import Transcript
from feeds._xml import peek
from feeds.profile import Category
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedReadError
from feeds.profile import Message
from feeds.profile import Notes
from feeds.profile import Offer
from feeds.profile import Problem
from feeds.profile import Spec
from feeds.profile import Where
from feeds.profile import read_extension

__all__ = ["FeedReadError", "ParsedFeed", "read", "stream"]

# The JSON Feed shape: feed keys, _ecoop feed keys, item keys.
_FEED: dict[str, Spec] = {"title": "text", "description": "text", "language": "text"}
_FEED |= {"home_page_url": "url", "feed_url": "url", "next_url": "url"}
_FEED |= {"authors": [{"name": "text", "url": "url", "avatar": "url"}]}
_FEED_EXT: dict[str, Spec] = {"about": "url", "version": "text", "id": "text"}
_FEED_EXT |= {"complete": "bool", "archive": "bool", "prev_archive_url": "url"}
_FEED_EXT |= {"updated": "date"}  # and "deleted": a list of _TOMBSTONE
_TOMBSTONE: dict[str, Spec] = {"ref": "text", "when": "date"}
_ITEM: dict[str, Spec] = {"id": "text", "url": "url", "title": "text"}
_ITEM |= {"summary": "text", "content_html": "text", "content_text": "text"}
_ITEM |= {"date_published": "date", "date_modified": "date", "language": "text"}
_ITEM |= {"tags": ["text"]}


@dataclass
class ParsedFeed:
    """What :func:`read` found; ``extension`` says whether the document uses the
    eco/_ecoop extension at all, ``where`` locates any field of it."""

    info: FeedInfo
    offers: list[Offer]
    deleted: list[Deleted]
    problems: list[Problem]
    format: str = "atom"  # "atom", "rss" or "json"
    extension: bool = False
    expired: bool = False  # JSON Feed 1.1: the feed will never update again
    completeness_declared: bool = False
    items: list[int] = field(default_factory=list)  # offers[k] is items[items[k]]
    locate: Locate = field(
        default=lambda i, key: (key, None), repr=False, compare=False
    )

    def where(self, k: int | None, key: str = "") -> Where:
        """Where ``key`` (in JSON Feed terms: ``_ecoop.kind``) of ``offers[k]``, or of
        the feed if ``k`` is None, is: ``entry[3] <eco:kind>`` and its XML line."""
        return self.locate(None if k is None else self.items[k], key)


def read(data: bytes) -> ParsedFeed:
    """Read an Atom, RSS 2.0 or JSON Feed document.

    Args:
        data: the document as served; JSON is recognised by its first ``{`` or ``[``.

    Returns:
        Feed info, offers, tombstones and every problem met (see PROFILE.md). An
        unusable field is left out; an entry with neither id nor link is skipped.

    Raises:
        FeedReadError: empty, neither JSON nor XML, not well-formed, a DOCTYPE that
            declares entities, JSON that is not an object, an unknown root element.
    """
    kept: list[tuple[int, Offer]] = []
    parsed = _read(data, lambda i, offer: kept.append((i, offer)), kept.clear, True)
    parsed.items = [i for i, _ in kept]
    parsed.offers = [offer for _, offer in kept]
    return parsed


def stream(
    data: bytes | BinaryIO,
    take: Callable[[Offer], None],
    retract: Callable[[], None],
) -> ParsedFeed:
    """:func:`read`, handing each offer to ``take`` as it is read instead of keeping
    it: a big feed's offers are never all in memory. The ParsedFeed has no offers,
    and its ``where`` places only the feed's own keys. ``data`` may be a file
    opened in binary mode, at its start: it is then parsed as it is read, an XML
    document in one pass, a JSON Feed in two (its own keys, then its items).

    ``retract``: forget the offers handed over so far, they come again. An RSS
    channel may name its language after items that fall back to it; they are then
    read again, knowing it. A document found broken half-way raises after some
    offers were handed over: the caller forgets them.

    Raises:
        FeedReadError: as :func:`read`.
    """
    return _read(data, lambda _, offer: take(offer), retract, False)


def _read(
    data: bytes | BinaryIO,
    take: Callable[[int, Offer], None],
    retract: Callable[[], None],
    locating: bool,
) -> ParsedFeed:
    """Hand each offer to ``take`` with its item's index; ``locating``: keep the
    place of every item's keys, for ``where``."""
    start = peek(data, 4096)
    head = start.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not head:
        raise FeedReadError(Message("not a feed: the document is empty"))
    if head in (b"{", b"["):
        if isinstance(data, bytes):
            return _read_json(data, take)
        return _stream_json(data, take)
    if head != b"<" and not start.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = Message("serve an Atom 1.0 or JSON Feed 1.1 document (PROFILE.md)")
        raise FeedReadError(Message("not a feed: neither JSON nor XML"), hint)
    language: str | None = None
    for known in (False, True):
        shape = Transcript(data)
        fallbacks: set[str | None] = set()  # the feed languages items fell back to
        for i, item in shape.items(keep_lines=locating):
            feed_language = language if known else shape.feed_language
            offer = _build_item(item, i, shape.notes, shape.locate, feed_language)
            if offer is not None:
                if not item.get("language"):
                    fallbacks.add(feed_language)
                take(i, offer)
        parsed = _build(shape.doc, shape.format, shape.notes, shape.locate)
        parsed.extension = shape.extension
        language = parsed.info.language
        if known or not fallbacks - {language}:
            break
        retract()  # the channel named its language after items that needed it
    return parsed


def _read_json(data: bytes, take: Callable[[int, Offer], None]) -> ParsedFeed:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise FeedReadError(
            Message("JSON Feed is not UTF-8"), Message("save it as UTF-8")
        ) from e
    except json.JSONDecodeError as e:
        message = Message("not valid JSON: %(error)s", error=e.msg)
        raise FeedReadError(message, None, e.lineno) from e
    except RecursionError as e:
        raise FeedReadError(Message("JSON nested too deeply")) from e
    if not isinstance(doc, dict):
        raise _not_an_object(type(doc).__name__)
    notes = _versioned(doc)
    items = doc.get("items")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        _check_content(i, item, notes)
    return _json_feed(doc, notes, items if isinstance(items, list) else None, take)


def _stream_json(file: BinaryIO, take: Callable[[int, Offer], None]) -> ParsedFeed:
    """A JSON Feed in a file, read twice (ijson), never whole in memory: the
    feed's own keys, then its items one at a time."""
    start = 3 if peek(file, 3) == b"\xef\xbb\xbf" else 0
    try:
        file.seek(start)
        doc, items_are = _json_keys(file)
        notes = _versioned(doc)
        items = None
        if items_are == "start_array":
            file.seek(start)
            items = _content_checked(
                ijson.items(file, "items.item", use_float=True), notes
            )
        return _json_feed(doc, notes, items, take)
    except ijson.JSONError as e:
        error = e.args[0] if e.args else ""
        if isinstance(error, bytes):
            error = error.decode("utf-8", "replace")
        message = Message("not valid JSON: %(error)s", error=str(error).split("\n")[0])
        raise FeedReadError(message) from e


def _json_keys(file: BinaryIO) -> tuple[dict[str, Any], str | None]:
    """The feed's own keys (all but ``items``), and the first event of ``items``'s
    value (``start_array`` for a list; None: no items)."""
    builder, items_are = ijson.ObjectBuilder(), None
    events = ijson.parse(file, use_float=True)
    for prefix, event, value in events:
        if not prefix and event != "start_map" and builder.value is None:
            kinds = {"start_array": "list", "string": "str", "number": "float"}
            raise _not_an_object(kinds.get(event, event))
        if prefix == "items" or prefix.startswith("items."):
            items_are = items_are or event
        elif not (prefix == "" and event == "map_key" and value == "items"):
            builder.event(event, value)
    return builder.value, items_are


def _not_an_object(kind: str) -> FeedReadError:
    hint = Message('a JSON Feed is an object: {"version": ..., "items": [...]}')
    message = Message("JSON is not an object but a %(type)s", type=kind)
    return FeedReadError(message, hint)


def _versioned(doc: dict[str, Any]) -> Notes:
    """The notes of a JSON Feed, which begin with its version's."""
    notes, version = Notes(), doc.get("version")
    if not (isinstance(version, str) and version.startswith("https://jsonfeed.org/")):
        hint = Message('add "version": "https://jsonfeed.org/version/1.1"')
        message = Message("missing or unknown JSON Feed version")
        notes.error(("version", None), message, hint)
    return notes


def _check_content(i: int, item: object, notes: Notes) -> None:
    if isinstance(item, dict) and not {"content_html", "content_text"} & set(item):
        hint = Message("add content_html or content_text (JSON Feed 1.1 requires one)")
        notes.error((f"items[{i}]", None), Message("no content"), hint)


def _content_checked(items: Iterable[Any], notes: Notes) -> Iterator[Any]:
    for i, item in enumerate(items):
        _check_content(i, item, notes)
        yield item


def _json_feed(
    doc: dict[str, Any],
    notes: Notes,
    items: Iterable[Any] | None,
    take: Callable[[int, Offer], None],
) -> ParsedFeed:
    """The ParsedFeed of a JSON Feed's own keys; each of ``items`` (None: not a
    list) built and handed to ``take``."""

    def locate(i: int | None, key: str) -> Where:
        return ".".join(p for p in ("" if i is None else f"items[{i}]", key) if p), None

    parsed = _build(doc, "json", notes, locate)
    parsed.expired = doc.get("expired") is True
    parsed.extension = "_ecoop" in doc
    if items is None:
        hint = Message('add "items": []')
        notes.error(locate(None, "items"), Message("no list of items"), hint)
    for i, item in enumerate(items or ()):
        parsed.extension |= isinstance(item, dict) and "_ecoop" in item
        if offer := _build_item(item, i, notes, locate, parsed.info.language):
            take(i, offer)
    return parsed


def _build(doc: dict[str, Any], fmt: str, notes: Notes, locate: Locate) -> ParsedFeed:
    """The ParsedFeed of a document in JSON Feed shape, without its items."""

    def at(key: str) -> Where:
        return locate(None, key)

    top = notes.walk({k: doc.get(k) for k in _FEED}, _FEED, "", at) or {}
    raw = doc.get("_ecoop")
    tombs = raw.get("deleted", []) if isinstance(raw, dict) else []
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "deleted"}
    ext = notes.walk(raw, _FEED_EXT, "_ecoop", at) or {}
    if not top.get("title"):
        hint = Message("give the feed a title")
        notes.error(at("title"), Message("missing title"), hint)
    authors = [a["name"] for a in top.get("authors", ()) if "name" in a]
    info = FeedInfo(
        title=top.get("title", ""),
        link=top.get("home_page_url", ""),
        id=ext.get("id") or top.get("feed_url") or top.get("home_page_url", ""),
        language=notes.language(top.get("language"), at("language")),
        complete=ext.get("complete", False),
        next_url=top.get("next_url"),
        self_url=top.get("feed_url"),
        prev_archive_url=ext.get("prev_archive_url"),
        archive=ext.get("archive", False),
        subtitle=top.get("description"),
        author=authors[0] if authors else None,
        updated=ext.get("updated"),
    )
    parsed = ParsedFeed(info, [], [], notes.problems, fmt, locate=locate)
    if not isinstance(tombs, list):
        notes.error(
            at("_ecoop.deleted"),
            Message("expected a list"),
            Message('"deleted": [{"ref": ...}]'),
        )
    for j, raw_tomb in enumerate(tombs if isinstance(tombs, list) else ()):
        key = f"_ecoop.deleted[{j}]"
        if (tomb := notes.walk(raw_tomb, _TOMBSTONE, key, at)) is None:
            continue
        for name in ("ref", "when"):
            if raw_tomb.get(name) in (None, ""):  # (a bad value is noted already)
                hint = Message(
                    "RFC 6721: ref is the withdrawn offer's id; when, the time it went"
                )
                message = Message("withdrawn entry without %(field)s", field=name)
                notes.error(at(f"{key}.{name}"), message, hint)
        if "ref" in tomb and "when" in tomb:
            parsed.deleted.append(Deleted(tomb["ref"], tomb["when"]))
    parsed.completeness_declared = "complete" in ext or "archive" in ext
    return parsed


def _build_item(
    item: object, i: int, notes: Notes, locate: Locate, language: str | None
) -> Offer | None:
    def at(key: str) -> Where:
        return locate(i, key)

    if not isinstance(item, dict):
        message = Message(
            "an item must be an object, not %(type)s", type=type(item).__name__
        )
        hint = Message('write {"id": ..., "url": ..., "title": ...}')
        notes.error(at(""), message, hint)
        return None
    s = notes.walk({k: item.get(k) for k in _ITEM}, _ITEM, "", at) or {}
    if not s.get("id"):
        hint = Message(
            "give it a permanent, unique id, e.g. tag:your-site.example,2026:o-17"
        )
        notes.error(at("id"), Message("missing id"), hint)
    if not s.get("title"):
        hint = Message("give every offer a title")
        notes.error(at("title"), Message("missing title"), hint)
    if not s.get("url"):
        hint = Message("link the offer's page on your site")
        notes.error(at("url"), Message("missing link"), hint)
    if not (s.get("id") or s.get("url")):
        return None
    ext: dict[str, Any] = {}
    if isinstance(raw := item.get("_ecoop", {}), dict):
        ext = read_extension(raw, lambda key: at(f"_ecoop.{key}"), notes)
    else:
        hint = Message('write {"kind": ...}')
        notes.error(at("_ecoop"), Message("_ecoop must be an object"), hint)
    if not ext.get("categories") and s.get("tags"):
        ext["categories"] = tuple(Category(tag) for tag in s["tags"])
    body = s.get("content_html")
    return Offer(
        id=s.get("id") or s["url"],
        title=s.get("title", ""),
        link=s.get("url", ""),
        language=notes.language(s.get("language"), at("language")) or language,
        summary=s.get("summary") or (None if body else s.get("content_text")),
        content_html=body,
        published=s.get("date_published"),
        updated=s.get("date_modified"),
        **ext,
    )
