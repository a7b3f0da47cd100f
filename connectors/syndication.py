"""A fast reader for plain RSS 2.0/0.9x and Atom 1.0 feeds on lxml.

``read`` gives the ParsedDocument the feedparser path of connectors.rss would give,
or None (declined) for anything it is not sure to read exactly so: broken XML, a
DOCTYPE, xml:base, a relative item link, XHTML or out-of-line content, a date in
another format, an element feedparser gives a meaning this reader does not model.
It follows feedparser's handlers for well-formed documents (connectors.feedtext
for the values); tests/test_connectors_syndication.py holds both paths equal.
``stream`` hands each item over as it is read (connectors.base.Items), and takes
them back if it declines half-way. Pure: bytes in, no network; memory stays bounded
by clearing each element read.
"""

from __future__ import annotations

import dataclasses
import re
from io import BytesIO
from typing import Any
from typing import BinaryIO

from feedparser.urls import make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

from connectors.base import Collected
from connectors.base import Items
from connectors.base import ParsedDocument
from connectors.feeditems import EXTENSIONS
from connectors.feeditems import item_language
from connectors.feeditems import language
from connectors.feeditems import make_item
from connectors.feeditems import marks_complete
from connectors.feeditems import tombstone_ref
from connectors.feeditems import ttl
from connectors.feedtext import FP
from connectors.feedtext import Names
from connectors.feedtext import NotSureError
from connectors.feedtext import attributes
from connectors.feedtext import check_absolute
from connectors.feedtext import finish
from connectors.feedtext import has_handler
from connectors.feedtext import join
from connectors.feedtext import lang
from connectors.feedtext import leaf_text
from connectors.feedtext import parse_date
from connectors.sniff import mentions
from feeds._xml import peek
from feeds._xml import raise_if_out_of_memory

_ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"
# Keys connectors.rss reads (and their FeedParserDict aliases): an element this
# reader lets pass must not be stored under one of them.
_READ_KEYS = set(FeedParserDict.keymap) | {
    *("title", "link", "links", "id", "published", "updated", "content", "summary"),
    *("published_parsed", "updated_parsed", "summary_detail", "title_detail"),
    *("author", "author_detail", "authors", "tags", "category", "language", "ttl"),
    *("job_listing_company", "job_listing_location"),
}
# Item children by feedparser's name for them (``local`` or ``prefix_local``).
_TEXTS = {  # -> slot, feedparser's element name, default content type
    "title": ("title", "title", "text/plain"),
    "dc_title": ("title", "title", "text/plain"),
    "description": ("summary", "description", "text/html"),
    "dc_description": ("summary", "description", "text/html"),
    "summary": ("summary", "summary", "text/plain"),
    "content": ("content", "content", "text/plain"),
    "content_encoded": ("content", "content", "text/html"),
}
_TEXT_TYPES = ("text/plain", "text/html")  # not xhtml, not base64 (feedparser's mode)
_DATES = {"pubdate": "published", "published": "published", "issued": "published"}
_DATES |= {"dcterms_issued": "published", "updated": "updated", "dc_date": "updated"}
_DATES |= {"modified": "updated", "dcterms_modified": "updated"}
_PLAIN = {"language": "language", "dc_language": "language"}
_PLAIN |= {"job_listing_company": "company", "job_listing_location": "location"}
_AUTHORS = {"author", "dc_creator", "dc_author", "managingeditor"}
_CATEGORIES = {"category", "dc_subject", "keywords"}
# Handled by feedparser, but into fields connectors.rss does not read.
_LEAVES = {"enclosure", "rights", "copyright", "dc_rights", "created", "webmaster"}
_LEAVES |= {"dcterms_created", "expirationdate", "dc_publisher", "media_content"}
_LEAVES |= {"media_thumbnail"}
_FEED_LEAVES = _LEAVES | _AUTHORS | _CATEGORIES | set(_DATES)
_FEED_LEAVES |= {"title", "dc_title", "description", "dc_description", "summary"}
_FEED_LEAVES |= {"subtitle", "generator", "cloud", "id", "lastbuilddate"}
_IMAGE_PARTS = {"url", "title", "link", "width", "height", "description"}
_PERSON = {"name": "name", "email": "email", "uri": "href", "url": "href"}
_ROOT_START = re.compile(rb"<\w")
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_XML11 = re.compile(rb"<\?xml[^>]*version\s*=\s*[\"']1\.1")
_LINK_REF = re.compile(r"&([A-Za-z0-9_]+);")


def read(body: bytes, url: str) -> ParsedDocument | None:
    """The feed in ``body`` (UTF-8 XML, as connectors.rss prepares it) fetched from
    ``url`` (after redirects), or None to leave it to feedparser."""
    items = Collected()
    document = stream(body, url, items)
    return (
        None if document is None else dataclasses.replace(document, items=items.items)
    )


def stream(body: bytes | BinaryIO, url: str, items: Items) -> ParsedDocument | None:
    """``read``, with each item handed to ``items`` as it is read; the document
    comes back without them. None: declined, and what was taken is retracted.
    ``body`` may be a file of UTF-8 XML opened in binary mode, parsed as it is
    read (its root must start within its first 64 kB)."""
    head = body if isinstance(body, bytes) else peek(body, 65536)
    start = _ROOT_START.search(head)
    if start is None or mentions(body, b"xml:base"):
        return None
    prolog = head[: start.start()]
    if _DTD.search(prolog) or _XML11.search(prolog):
        return None
    base = make_safe_absolute_uri(url, url) or url
    try:
        try:
            return _Reader(base, items).run(body)
        except _LateLanguage as late:  # read again, knowing the feed's language
            items.retract()
            return _Reader(base, items, late).run(body)
    except NotSureError:
        items.retract()
        return None
    except etree.XMLSyntaxError as e:
        items.retract()
        raise_if_out_of_memory(e)  # feedparser would run out of it too
        return None


class _LateLanguage(Exception):
    """The feed's language was given (or changed) after items that fall back to
    it were handed over: feedparser gives them its last value, ``final``."""

    def __init__(self, final: str | None) -> None:
        self.final = final


class _Reader:
    """One document, read as feedparser's handlers would; its items go to
    ``items``. ``late``: how a first reading ended, when the feed's language came
    after items that fall back to it (the second reading gives them its final value
    from the start)."""

    def __init__(
        self, base: str, items: Items, late: _LateLanguage | None = None
    ) -> None:
        self.base = base  # what feedparser resolves against
        self.items = items
        self.late = late
        self.rss = True
        self.lang: str | None = None  # xml:lang around the items
        self.feed_language: str | None = None
        self.ttl: str | None = None
        self.next_page: str | None = None
        self.deleted: list[str] = []  # RFC 6721 tombstones' refs
        self.complete: bool | None = None  # RFC 5005 fh:complete
        self.skipped = 0
        self.fallbacks: set[str | None] = set()  # feed languages items fell back to
        self.names = Names()
        self.key = self.names.key

    def run(self, body: bytes | BinaryIO) -> ParsedDocument:
        depth, top, channels = 0, 3, 0
        if not isinstance(body, bytes):
            body.seek(0)
        events = etree.iterparse(
            BytesIO(body) if isinstance(body, bytes) else body,
            events=("start-ns", "start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            recover=False,
        )
        for event, el in events:
            if event == "start-ns":
                self.names.declare(*el)
            elif event == "start":
                depth += 1
                if el.tag in EXTENSIONS:
                    self.extension(el, depth)
                if depth == 1:
                    top = self.root(el)
                elif depth == 2 and top == 3:  # RSS: one <channel>, nothing else
                    channels += 1
                    attrs = attributes(el)
                    if el.tag != "channel" or channels > 1 or not _plain(attrs):
                        raise NotSureError(el.tag)
                    self.lang = lang(attrs, self.lang)
            else:
                if depth == top:  # a child of the channel (RSS) or feed (Atom)
                    self.child(el)
                    el.clear()
                    while el.getprevious() is not None:
                        del el.getparent()[0]
                depth -= 1
        final = language(self.feed_language)  # feedparser's last word on it
        if self.fallbacks - {final}:
            raise _LateLanguage(final)
        return ParsedDocument(
            items=[],
            deleted=tuple(self.deleted),
            complete=self.complete,
            ttl=ttl(self.ttl),
            skipped=self.skipped,
            next_page=self.next_page,
        )

    def extension(self, el: Any, depth: int) -> None:
        """An RFC 6721 tombstone (anywhere) or RFC 5005 completeness mark, read by
        connectors.feeditems' rules in this pass, not in a second one over the
        body. ``depth``: the root's is 1."""
        if (ref := tombstone_ref(el)) is not None:
            self.deleted.append(ref)
        elif marks_complete(el, depth - 1):
            self.complete = True

    def root(self, el: Any) -> int:
        """The depth of the items: 3 in RSS (rss/channel/item), 2 in Atom."""
        self.rss = el.tag == "rss"
        if not self.rss and el.tag != _ATOM_FEED:
            raise NotSureError(el.tag)
        self.lang = self.feed_language = lang(attributes(el), None)
        return 3 if self.rss else 2

    def child(self, el: Any) -> None:
        """An item, or an element of the channel (RSS) or feed (Atom)."""
        key, attrs = self.key(el), attributes(el)
        if key in ("item", "entry"):
            self.item(el, attrs)
        elif key in ("language", "dc_language"):
            self.feed_language = self.finish(leaf_text(el), key)
        elif key == "ttl":
            self.ttl = self.finish(leaf_text(el), key)
        elif key == "link":
            leaf_text(el)
            if "url" in attrs or "uri" in attrs:
                raise NotSureError(key)
            if "href" in attrs and attrs.get("rel", "alternate") == "next":
                href = join(self.base, attrs["href"]).strip()
                self.next_page = self.next_page or href or None
        elif key == "image":
            for part in _elements(el):
                attributes(part)
                if self.key(part) not in _IMAGE_PARTS:
                    raise NotSureError(part.tag)
                leaf_text(part)
        elif key in ("author", "contributor") and len(el):
            self.person(el)
        elif key in _FEED_LEAVES:
            leaf_text(el)
        else:
            self.inert(el, key)

    def item(self, el: Any, attrs: dict[str, str]) -> None:
        """One item: a RawItem, or one more skipped."""
        if not _plain(attrs):
            raise NotSureError(el.tag)
        item_lang = lang(attrs, self.lang)
        slots: dict[str, Any] = {}  # one element each: feedparser's repeats vary
        link: str | None = None
        has_link = False
        tags: list[list[str | None]] = []  # feedparser's term, scheme, label
        for child in _elements(el):
            key, a = self.key(child), attributes(child)
            if key in _TEXTS:
                slot, element, default = _TEXTS[key]
                ctype = FP.map_content_type(a.get("type", default))
                if "src" in a or "mode" in a or ctype not in _TEXT_TYPES:
                    raise NotSureError(key)
                text = self.finish(leaf_text(child), element, ctype)
                _fill(slots, slot, (text, lang(a, item_lang)))
            elif key == "link":
                if "url" in a or "uri" in a:
                    raise NotSureError(key)
                text = leaf_text(child)
                if "href" not in a:  # RSS: the text, with "&amp;" undone
                    _fill(slots, "link", True)
                    check_absolute(text.strip())
                    link = self.finish(text, "link", resolve=True)
                    if "&" in link:  # (re.sub costs 1.5 us even with nothing to do)
                        link = _LINK_REF.sub(r"&\1", link.replace("&amp;", "&"))
                    has_link = True
                elif _alternate(a):  # Atom: the last HTML alternate
                    check_absolute(a["href"])
                    link, has_link = join(self.base, a["href"]), True
            elif key in ("guid", "id"):  # a permalink is the link if none yet
                permalink = a.get("ispermalink", "true") == "true"
                text = leaf_text(child)
                if permalink and not has_link:
                    check_absolute(text.strip())
                value = self.finish(text, "id", resolve=permalink)
                _fill(slots, "id", value)
                if permalink and not has_link:
                    link, has_link = value, True
            elif key in _DATES:
                value = self.finish(leaf_text(child), key)
                _fill(slots, _DATES[key], parse_date(value))
            elif key in _PLAIN:
                if key.startswith("job_") and a:  # feedparser keeps the attributes
                    raise NotSureError(key)
                _fill(slots, _PLAIN[key], self.finish(leaf_text(child), key))
            elif key in _AUTHORS:
                if len(child):
                    _fill(slots, "author", self.person(child))
                else:
                    _fill(slots, "author", self.finish(leaf_text(child), "author"))
            elif key in _CATEGORIES:
                scheme = a.get("scheme", a.get("domain"))
                _add_tag(tags, a.get("term"), scheme, a.get("label"))
                term = self.finish(leaf_text(child), "category")
                if term and tags and not tags[-1][0]:
                    tags[-1][0] = term
                elif term:
                    _add_tag(tags, term, None, None)
            elif key in _LEAVES:
                leaf_text(child)
            else:
                self.inert(child, key)
        title, title_lang = slots.get("title", (None, None))
        summary, summary_lang = slots.get("summary", (None, None))
        content, content_lang = slots.get("content", (None, None))
        own = item_language(
            content_lang, slots.get("language"), summary_lang, title_lang
        )
        fallback = (
            language(self.feed_language) if self.late is None else self.late.final
        )
        item = make_item(
            title=title,
            link=link,
            guid=slots.get("id"),
            summary=summary if "summary" in slots else content,  # content stands in
            content=content,
            published=slots.get("published"),
            updated=slots.get("updated"),
            author=slots.get("author"),
            categories=(str(tag[0]) for tag in tags if tag[0]),
            language=own or fallback,
            company=slots.get("company"),
            location=slots.get("location"),
        )
        if item is None:
            self.skipped += 1
            return
        if own is None:
            self.fallbacks.add(fallback)
        self.items.take(item)

    def person(self, el: Any) -> str:
        """An Atom person construct: "name (email)", the name, the email, or ""."""
        parts: dict[str, str] = {}
        if (el.text or "").strip():
            raise NotSureError(el.tag)
        for child in el:
            if (child.tail or "").strip():
                raise NotSureError(el.tag)
            if isinstance(child.tag, str):
                attributes(child)
                part = _PERSON.get(self.key(child))
                if part is None or part in parts:
                    raise NotSureError(child.tag)
                parts[part] = leaf_text(child).strip()
        name, email = parts.get("name"), parts.get("email")
        return f"{name} ({email})" if name and email else name or email or ""

    def inert(self, el: Any, key: str) -> None:
        """An element feedparser has no handler for: stored under its own name,
        which connectors.rss never reads; so must be everything inside it."""
        if key in _READ_KEYS or has_handler(key):
            raise NotSureError(key)
        for child in _elements(el):
            attributes(child)
            self.inert(child, self.key(child))

    def finish(
        self, text: str, element: str, ctype: str | None = None, resolve: bool = False
    ) -> str:
        return finish(
            text, element, base=self.base, rss=self.rss, ctype=ctype, resolve=resolve
        )


def _elements(el: Any) -> list[Any]:
    """Child elements, without comments and processing instructions."""
    return [child for child in el if isinstance(child.tag, str)]


def _plain(attrs: dict[str, str]) -> bool:
    """No CDF ``href``/``lastmod``: feedparser makes them a link and a date."""
    return "href" not in attrs and "lastmod" not in attrs


def _fill(slots: dict[str, Any], slot: str, value: Any) -> None:
    if slot in slots:  # which repeat feedparser keeps depends on their order
        raise NotSureError(slot)
    slots[slot] = value


def _alternate(attrs: dict[str, str]) -> bool:
    """feedparser's entry link: rel alternate (the default), of an HTML type."""
    rel = attrs.get("rel", "alternate")
    kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
    return rel == "alternate" and FP.map_content_type(kind) in FP.html_types


def _add_tag(tags: list[list[str | None]], *tag: str | None) -> None:
    if any(tag) and list(tag) not in tags:
        tags.append(list(tag))
