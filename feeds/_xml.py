"""The XML side of the reader: safe parsing of Atom 1.0 / RSS 2.0, transcribed into
the JSON Feed shape with the XML location of every key. Pure: never fetches, never
expands an entity (a DOCTYPE that declares one is refused)."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from email.utils import parsedate_to_datetime
from io import BytesIO
from typing import Any
from typing import BinaryIO
from typing import TypeAlias
from urllib.parse import urljoin

from lxml import etree

from feeds.profile import ATOM_NS
from feeds.profile import ECO_NS
from feeds.profile import HISTORY_NS
from feeds.profile import TOMBSTONE_NS
from feeds.profile import XML_NS
from feeds.profile import FeedReadError
from feeds.profile import Message
from feeds.profile import Notes
from feeds.profile import Where
from feeds.profile import is_absolute_iri

_A, _ECO, _AT = f"{{{ATOM_NS}}}", f"{{{ECO_NS}}}", f"{{{TOMBSTONE_NS}}}"
_FH, _LANG = f"{{{HISTORY_NS}}}", f"{{{XML_NS}}}lang"
_HTML_TYPES = (None, "text/html", "application/xhtml+xml")
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
El: TypeAlias = etree._Element
Lines = dict[str, int]  # JSON-shape key -> XML line
Locate = Callable[[int | None, str], Where]  # (item index or None, key) -> Where
# Names of JSON-shape keys in the XML formats, for locations (others: _xml_name).
_ALT = '<link rel="alternate">'
_ATOM = {"url": _ALT, "home_page_url": _ALT, "feed_url": '<link rel="self">'}
_ATOM |= {"next_url": '<link rel="next">', "description": "<subtitle>"}
_ATOM |= {"content_html": "<content>", "language": "@xml:lang"}
_ATOM |= {"date_published": "<published>", "date_modified": "<updated>"}
_ATOM |= {"_ecoop.id": "<id>", "_ecoop.updated": "<updated>"}
_ATOM |= {"_ecoop.prev_archive_url": '<link rel="prev-archive">'}
_ATOM |= {"_ecoop.archive": "<fh:archive>", "_ecoop.complete": "<eco:complete>"}
_RSS = _ATOM | {"id": "<guid>", "url": "<link>", "home_page_url": "<link>"}
_RSS |= {"content_html": "<description>", "date_published": "<pubDate>"}
_RSS |= {"description": "<description>", "language": "<language>"}


class Transcript:
    """An Atom 1.0 or RSS 2.0 document in JSON Feed shape, read as it is parsed.

    ``items()`` gives each item (Atom entry) as soon as its end is read, then
    forgets it: a big feed is never whole in memory. The feed's own keys
    (``doc``, without ``items``) and ``extension`` are complete once ``items()`` is
    exhausted, for Atom allows the feed's elements after its entries.
    ``feed_language`` is the feed's language as far as read. ``locate`` places any
    key of the feed, and of the item being read (of every item, with
    ``items(keep_lines=True)``).
    """

    def __init__(self, data: bytes | BinaryIO) -> None:
        self.data = data  # or a file in binary mode, read from its start
        self.notes = Notes(_eco_name)
        self.format = ""  # "atom" or "rss", from the root element
        self.doc: dict[str, Any] = {}
        self.extension = False  # an eco element anywhere
        self._lines: dict[int | None, Lines] = {None: {"": 0}}
        self._top: El | None = None  # Atom <feed>, RSS <channel>
        self._entry = ""  # the items' tag

    @property
    def feed_language(self) -> str | None:
        """Atom's is on its root; RSS's <language> may come after items."""
        if (top := self._top) is None:
            return None
        return _lang_of(top) if self.format == "atom" else _txt(top.find("language"))

    def items(self, keep_lines: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, item) of each item in document order, then the feed's keys.

        Raises:
            FeedReadError: not well-formed, entities declared, not a feed.
        """
        count, events = 0, _events(self.data)
        with _syntax_errors():
            for _, el in events:
                if not self._entry:
                    self._start(el.getroottree().getroot())
                if el.tag != self._entry or el.getparent() is not self._top:
                    continue
                self._lines[count] = lines = {"": el.sourceline or 0}
                read = _atom_item if self.format == "atom" else _rss_item
                base = f"{etree.QName(el).localname}[{count + 1}]"
                item = read(el, base, lines, self.notes)
                item["_ecoop"] = {k: v for k, v in item["_ecoop"].items() if v}
                self.extension = self.extension or _uses_eco(el)
                self._top.remove(el)  # and its memory goes with it
                yield count, item
                if not keep_lines:
                    del self._lines[count]
                count += 1
        self._finish(events.root)

    def locate(self, i: int | None, key: str) -> Where:
        known, parts = self._lines.get(i, {}), re.split(r"(?=[.\[])", key)
        keys = ("".join(parts[:n]).lstrip(".") for n in range(len(parts), -1, -1))
        line = next((known[k] for k in keys if k in known), None)
        if i is None and (m := re.match(r"_ecoop\.deleted\[(\d+)\]\.?(\w*)", key)):
            return f"at:deleted-entry[{int(m[1]) + 1}] @{m[2]}".rstrip(" @"), line
        atom = self.format == "atom"
        if i is None:
            base = "feed" if atom else "channel"
        else:
            base = f"{'entry' if atom else 'item'}[{i + 1}]"
        return f"{base} {_xml_name(key, _ATOM if atom else _RSS)}".rstrip(), line

    def _start(self, root: El) -> None:
        """The format and the feed's element (Atom <feed>, the first RSS <channel>),
        from the first element read; entities declared in the DTD are refused."""
        _refuse_declared(root)  # the internal DTD is read by now
        self.format = "atom" if root.tag == _A + "feed" else "rss"
        self._entry = _A + "entry" if self.format == "atom" else "item"
        if root.tag == _A + "feed":
            self._top = root
        elif root.tag == "rss":
            self._top = root.find("channel")

    def _finish(self, root: El) -> None:
        """The feed's own keys, once every item has been read."""
        _refuse_declared(root)
        if root.tag == _A + "feed" or (root.tag == "rss" and self._top is not None):
            assert self._top is not None
            self.doc = self._feed(self._top)
            self.extension = self.extension or _uses_eco(self._top)
            return
        hint = Message(
            "serve an Atom 1.0 <feed>, an RSS 2.0 <rss> or a JSON Feed (PROFILE.md)"
        )
        if root.tag == _A + "entry":
            hint = Message("this is an Atom entry document: wrap the entries in <feed>")
        name = etree.QName(root).localname
        message = Message("not a feed: root element <%(name)s>", name=name)
        raise FeedReadError(message, hint, root.sourceline)

    def _feed(self, top: El) -> dict[str, Any]:
        """Atom ``<feed>`` or RSS ``<channel>`` in JSON Feed shape, with its lines."""
        notes, atom = self.notes, self.format == "atom"
        scope = "feed" if atom else "channel"
        ln = self._lines[None]
        ln[""] = top.sourceline or 0
        if atom:
            for name in ("id", "updated"):
                if top.find(_A + name) is None:
                    hint = Message(
                        "RFC 4287 §4.1.1: a feed has an <%(name)s>", name=name
                    )
                    message = Message("missing <%(name)s>", name=name)
                    notes.error((f"feed <{name}>", top.sourceline), message, hint)
            doc: dict[str, Any] = {"title": _text(top.find(_A + "title"))}
            doc["description"] = _text(top.find(_A + "subtitle"))
            doc["language"] = _lang_of(top)
            doc["authors"] = [{"name": _txt(top.find(f"{_A}author/{_A}name"))}]
            eco = {
                "id": _txt(top.find(_A + "id")),
                "updated": _txt(top.find(_A + "updated")),
            }
        else:
            doc = {k: _txt(top.find(k)) for k in ("title", "description", "language")}
            doc["home_page_url"] = _txt(top.find("link"))
            eco = {"id": None}
        names = {"self": "feed_url", "next": "next_url", "alternate": "home_page_url"}
        for rel, href, _, line in reversed(_links(top)):  # the first of each rel wins
            if rel == "prev-archive":
                eco["prev_archive_url"], ln["_ecoop.prev_archive_url"] = href, line
            elif key := names.get(rel):
                doc[key], ln[key] = href, line
        _history(top, scope, eco, ln, notes, bool(doc.get("next_url")))
        eco["id"] = eco["id"] or doc.get("feed_url") or doc.get("home_page_url")
        doc["_ecoop"] = {k: v for k, v in eco.items() if v is not None}
        return doc


_ITEMS = frozenset((_A + "entry", "item"))


def _events(data: bytes | BinaryIO) -> Any:
    """lxml's iterparse of ``data`` (or of a file, from its start) without
    entities, network, DTD or huge trees: the ends of entries and items, and of
    the root."""
    start = peek(data, 131072)
    source = BytesIO(data) if isinstance(data, bytes) else data
    # Entity declarations allow expansion bombs (billion laughs) and external
    # entities; a feed needs neither, so they are refused before parsing.
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = start.decode("utf-16", "replace")
    else:
        head = start[:65536].decode("latin-1")
    prolog = re.split(r"<(?![?!])", head, maxsplit=1)[0]
    if "<!ENTITY" in prolog:
        _refuse_declared(None, prolog[: prolog.index("<!ENTITY")].count("\n") + 1)
    return etree.iterparse(
        source,
        events=("end",),
        tag=(*_ITEMS, _A + "feed", "rss"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )


def _refuse_declared(root: El | None, line: int = 1) -> None:
    """Refuse a document whose DOCTYPE declares entities (``root``: look in its
    internal DTD; None: one was found)."""
    if root is not None:
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is None or not any(True for _ in dtd.iterentities()):
            return
    refused = Message(
        "DOCTYPE declares entities: refused (entities are never expanded)"
    )
    raise FeedReadError(refused, Message("remove the <!DOCTYPE> block"), line)


def peek(data: bytes | BinaryIO, size: int) -> bytes:
    """The first ``size`` bytes of ``data``, or of a file read from its start and
    left there (a spilled body, parsed next from its start)."""
    if isinstance(data, bytes):
        return data[:size]
    data.seek(0)
    head = data.read(size)
    data.seek(0)
    return head


def raise_if_out_of_memory(error: etree.XMLSyntaxError) -> None:
    """libxml2 failing to allocate (under a parsing process's cap) as MemoryError,
    which connectors.bounded reports as too large: the hub's limit, not a fault of
    the document. Told by the error's own code: the thread's error log may still
    hold an earlier parse's."""
    if error.code == etree.ErrorTypes.ERR_NO_MEMORY:
        raise MemoryError("the XML parser ran out of memory") from error


@contextlib.contextmanager
def _syntax_errors() -> Iterator[None]:
    """lxml's syntax errors as FeedReadError; libxml2 out of memory (under a
    parsing process's cap) as MemoryError, not a fault of the document."""
    try:
        yield
    except etree.XMLSyntaxError as e:
        raise_if_out_of_memory(e)
        hint = Message("fix the XML at that line (`xmllint --noout FILE` shows it)")
        if "encoding" in e.msg:
            hint = Message(
                "the bytes are not in the declared encoding: save the file as UTF-8"
            )
        message = Message("not well-formed XML: %(error)s", error=e.msg)
        raise FeedReadError(message, hint, e.lineno) from e


def _uses_eco(el: El) -> bool:
    return any(True for _ in el.iter(_ECO + "*"))


def _history(
    top: El, scope: str, eco: dict[str, Any], ln: Lines, notes: Notes, paged: bool
) -> None:
    """Completeness (eco:complete; RFC 5005 fh:complete and fh:archive), RFC 6721
    tombstones and unknown feed-level eco elements, into ``eco``."""
    if (archive := top.find(_FH + "archive")) is not None:
        eco["archive"], ln["_ecoop.archive"] = True, archive.sourceline or 0
    for child in top.iterchildren(_ECO + "*"):
        name, where = etree.QName(child).localname, (f"{scope} <eco:complete>", None)
        if name != "complete":
            hint = Message("eco:complete is the only feed-level eco element")
            where = (f"{scope} <eco:{name}>", child.sourceline)
            qualified = f"eco:{name}"
            message = Message("unknown element %(name)r", name=qualified)
            notes.warn(where, message, hint)
        elif (text := _txt(child)) in ("true", "false"):
            eco["complete"], ln["_ecoop.complete"] = text == "true", child.sourceline
        else:
            where = (where[0], child.sourceline)
            message = Message(
                "<eco:complete> is true or false, not %(value)r", value=text
            )
            notes.error(where, message)
    if (fh := top.find(_FH + "complete")) is not None:
        if paged or eco.get("complete") is False:
            hint = Message(
                "RFC 5005 §2: a complete document has no next page; for a complete "
                "listing in pages write <eco:complete>true</eco:complete>"
            )
            where = (f"{scope} <fh:complete>", fh.sourceline)
            message = Message("fh:complete contradicts paging or eco:complete")
            notes.error(where, message, hint)
        eco.setdefault("complete", True)
    tombs = list(top.iterchildren(_AT + "deleted-entry"))
    eco["deleted"] = [{k: t.get(k) for k in ("ref", "when") if t.get(k)} for t in tombs]
    ln.update({f"_ecoop.deleted[{j}]": t.sourceline or 0 for j, t in enumerate(tombs)})


def _atom_item(entry: El, base: str, ln: Lines, notes: Notes) -> dict[str, Any]:
    item: dict[str, Any] = {"language": _lang_of(entry)}
    for key, tag in (("id", "id"), ("date_published", "published")):
        if (el := entry.find(_A + tag)) is not None:
            item[key], ln[key] = _txt(el), el.sourceline or 0
    if (el := entry.find(_A + "updated")) is not None:
        item["date_modified"], ln["date_modified"] = _txt(el), el.sourceline or 0
    else:
        hint = Message("RFC 4287 §4.1.2: add <updated>, the time of the last change")
        message = Message("missing <%(name)s>", name="updated")
        notes.error((f"{base} <updated>", entry.sourceline), message, hint)
    if item.get("id") and not is_absolute_iri(item["id"]):
        hint = Message(
            "RFC 4287 §4.2.6: an IRI such as tag:your-site.example,2026:offer-17"
        )
        message = Message("%(id)r is not an IRI", id=item["id"])
        notes.warn((f"{base} <id>", ln["id"]), message, hint)
    item["title"] = _text(entry.find(_A + "title"))
    item["summary"] = _text(entry.find(_A + "summary"))
    item["content_html"] = _text(entry.find(_A + "content"), as_html=True)
    eco = item["_ecoop"] = _eco_dict(entry, "_ecoop", base, ln, notes)
    cats = list(entry.iterchildren(_A + "category"))
    keys = ("term", "scheme", "label")
    eco["categories"] = [{k: c.get(k) for k in keys if c.get(k)} for c in cats]
    ln.update(
        {f"_ecoop.categories[{j}]": c.sourceline or 0 for j, c in enumerate(cats)}
    )
    links = [link for link in _links(entry) if link[0] == "alternate"]
    own = next((x for x in links if x[2] in (None, item["language"])), None)
    if own := own or (links[-1] if links else None):  # feedparser: the last wins
        item["url"], ln["url"] = own[1], own[3]
        item["language"] = item["language"] or own[2]
    eco["alternates"] = {}
    for link in links:
        _, href, lang, line = link
        where = (f'{base} <link rel="alternate">', line)
        if link is own:
            continue
        if lang is None:
            hint = Message(
                'mark each language version with hreflang="lt" (RFC 4287 §4.2.7)'
            )
            notes.error(where, Message("alternate link without hreflang"), hint)
        elif lang == item["language"] or lang in eco["alternates"]:
            message = Message("two alternate links for language %(lang)r", lang=lang)
            notes.error(where, message)
        else:
            eco["alternates"][lang], ln[f"_ecoop.alternates.{lang}"] = href, line
    return item


def _rss_item(el: El, base: str, ln: Lines, notes: Notes) -> dict[str, Any]:
    guid, link = _txt(el.find("guid")), _txt(el.find("link"))
    if not link and guid and (el.find("guid").get("isPermaLink") != "false"):
        link = guid if re.match(r"https?://", guid) else None  # RSS 2.0 permalink
    item: dict[str, Any] = {"id": guid or link, "url": link}
    item["title"], description = _txt(el.find("title")), el.find("description")
    if (body := el.find(_CONTENT_ENCODED)) is not None:  # the RSS content module
        item["content_html"], item["summary"] = _txt(body), _text(description, "html")
    else:
        item["content_html"] = _txt(description)
    if date := _txt(el.find("pubDate")):
        try:
            when = parsedate_to_datetime(date)
            item["date_published"] = when if when.tzinfo else when.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            hint = Message("RFC 822, e.g. Wed, 25 Nov 2026 09:50:00 +0100")
            message = Message("bad date %(date)r", date=date)
            notes.error((f"{base} <pubDate>", el.sourceline), message, hint)
    eco = item["_ecoop"] = _eco_dict(el, "_ecoop", base, ln, notes)
    cats = [(_txt(c), c.get("domain")) for c in el.iterchildren("category")]
    eco["categories"] = [
        {"term": t, "scheme": d} if d else {"term": t} for t, d in cats
    ]
    return item


def _eco_dict(el: El, key: str, base: str, ln: Lines, notes: Notes) -> dict[str, Any]:
    """The eco children of ``el`` as a `_ecoop` mapping: kebab-case names become
    snake_case, eco:identifier@scheme gathers into identifiers."""
    out: dict[str, Any] = {}
    for child in el.iterchildren(_ECO + "*"):
        name = etree.QName(child).localname.replace("-", "_")
        sub, line, scheme = f"{key}.{name}", child.sourceline or 0, child.get("scheme")
        if name == "identifier" and scheme:
            out.setdefault("identifiers", {})[scheme] = _txt(child) or ""
            ln[f"{key}.identifiers.{scheme}"] = line
            continue
        ln[sub] = line
        if name == "identifier":
            hint = Message('add scheme="vat" (or krs, jar ...)')
            where = (f"{base} {_xml_name(sub, {})}", line)
            notes.error(where, Message("identifier without scheme"), hint)
        elif name == "capabilities":
            capabilities = child.iterchildren(_ECO + "capability")
            out[name] = [_txt(c) or "" for c in capabilities]
        elif len(child):
            out[name] = _eco_dict(child, sub, base, ln, notes)
        else:
            out[name] = _txt(child)
    return out


def _links(el: El) -> list[tuple[str, str, str | None, int]]:
    """(rel, href, hreflang, line) of the atom:links with an href (HTML ones only
    for rel="alternate"); relative hrefs are resolved against xml:base."""
    out = []
    for link in el.iterchildren(_A + "link"):
        rel, href = link.get("rel", "alternate"), link.get("href")
        if not href or (rel == "alternate" and link.get("type") not in _HTML_TYPES):
            continue
        if link.base and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", href):
            href = urljoin(link.base, href)
        out.append((rel, href, link.get("hreflang"), link.sourceline or 0))
    return out


def _txt(el: El | None) -> str | None:
    return None if el is None else ("".join(el.itertext()).strip() or None)


def _text(el: El | None, kind: str = "", as_html: bool = False) -> str | None:
    """An Atom text construct (RFC 4287 §3.1) as plain text, or as HTML; ``kind``
    overrides its type attribute."""
    if not kind:
        kind = "none" if el is None or el.get("src") else el.get("type", "text")
    div = None if el is None else el.find("{http://www.w3.org/1999/xhtml}div")
    if kind == "xhtml" and as_html and div is not None:
        inner = "".join(etree.tostring(c, encoding="unicode") for c in div)
        return ((div.text or "") + inner).strip() or None
    if (text := _txt(el)) is None or kind not in ("text", "html", "xhtml"):
        return None
    if kind == "html" and not as_html:
        return html.unescape(re.sub(r"<[^>]*>", "", text)).strip() or None
    return html.escape(text, quote=False) if as_html and kind == "text" else text


def _lang_of(el: El) -> str | None:
    for node in (el, *el.iterancestors()):
        if (lang := node.get(_LANG)) is not None:
            return lang or None
    return None


def _xml_name(key: str, names: dict[str, str]) -> str:
    """The XML name of a JSON-shape key: ``_ecoop.organisation.country`` is
    ``<eco:organisation><eco:country>``."""
    if not key.startswith("_ecoop.") or key in names:
        return names.get(key, f"<{key}>" if key else "")
    path = re.sub(r"\[\d+\]", "", key[len("_ecoop.") :]).split(".")
    if path[0] in ("categories", "alternates"):
        return "<category>" if path[0] == "categories" else _ALT
    out = ""
    for j, part in enumerate(path):
        if part in ("identifiers", "identifier"):
            scheme = f' scheme="{path[j + 1]}"' if path[j + 1 :] else ""
            return out + f"<eco:identifier{scheme}>"
        out += f"<eco:{part.replace('_', '-')}>"
    return out


def _eco_name(key: str) -> str | None:
    """How a `_ecoop` field is spelled in XML (None: categories and alternates are
    atom:category and atom:link there)."""
    if key in ("categories", "alternates"):
        return None
    return "eco:" + key.replace("_", "-")
