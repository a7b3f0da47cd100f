"""Sitemaps (sitemaps.org 0.9): the pages a site lists, with ``lastmod``, through
sitemap indexes; and the page loop of crawlers that re-read only changed pages.

No network of its own: further documents come through the harvester's ``GetPage``.
API used by the ``jsonld`` and ``html`` connectors (keep it stable):

    is_sitemap(body) -> bool
    parse_sitemap(body, url) -> Sitemap(urls=((loc, lastmod), ...), children=(...))
    walk(get, first, state, include=None, site=None) -> Walk(pages, warnings, ...)
    read_pages(get, pages, state, read, accept=...) -> PageSet(items, kept, ...)
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

from lxml import etree

from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.site import same_site
from feeds._xml import raise_if_out_of_memory

SITEMAP_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.1"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the protocol's limit, uncompressed
MAX_DEPTH = 2  # an index of indexes is not in the protocol; tolerate one level
MAX_KEY = 1000  # hub.identity.MAX_KEY: longer ids are hashed there, not kept here
_ROOT = re.compile(rb"<(?:[A-Za-z0-9_-]+:)?(urlset|sitemapindex)[\s>/]")
_SHOWN = 3  # failed pages named in a warning; the rest are counted


@dataclasses.dataclass(frozen=True)
class Sitemap:
    """One sitemap document: page ``urls`` with their ``lastmod`` (a urlset), or the
    ``children`` sitemaps with theirs (a sitemap index)."""

    urls: tuple[tuple[str, str | None], ...] = ()
    children: tuple[tuple[str, str | None], ...] = ()


@dataclasses.dataclass(frozen=True)
class Page:
    """A page to read; ``lastmod`` as the sitemap wrote it, or None."""

    url: str
    lastmod: str | None = None


@dataclasses.dataclass(frozen=True)
class Walk:
    """The pages a sitemap (and its children) lists.

    ``complete`` is false when a child sitemap could not be read (its pages, if the
    last run knew them, are still listed). ``state`` goes into the crawl state under
    ``"sitemaps"`` for ``walk`` to reuse children whose lastmod did not change.
    """

    pages: tuple[Page, ...]
    warnings: tuple[str, ...] = ()
    complete: bool = True
    state: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PageSet:
    """What ``read_pages`` read.

    ``kept`` are the ids of items on pages not fetched (same lastmod as last time);
    ``state`` goes into the crawl state under ``"pages"``; ``complete`` is false when
    a page failed or the page cap stopped the loop.
    """

    items: list[RawItem]
    kept: tuple[str, ...]
    state: Mapping[str, Any]
    warnings: tuple[str, ...]
    complete: bool
    read: int  # pages fetched and parsed in this run
    empty: tuple[str, ...] = ()  # pages read that held no item
    failures: tuple[ConnectorError, ...] = ()


def is_sitemap(body: bytes) -> bool:
    """True when the document's root is ``urlset`` or ``sitemapindex``."""
    try:
        head = _gunzip(body, "", 4096)[:4096]
    except ConnectorError:
        return False
    return _ROOT.search(head) is not None


def parse_sitemap(body: bytes, url: str) -> Sitemap:
    """The ``<url>`` or ``<sitemap>`` entries of one sitemap document (gzip too).

    ``loc`` is resolved against ``url``; entries that are not http(s) are left out.
    Entities are not expanded and huge trees refused.

    Raises:
        ParseError: not well-formed XML, or not a sitemap (class ``not_a_feed``).
    """
    body = _gunzip(body, url)
    parser = etree.XMLParser(  # a parser per call: never shared between threads
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        recover=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as e:
        raise_if_out_of_memory(e)
        raise ParseError(url, f"not a sitemap: {e}", "parse") from e
    if root is None or etree.QName(root).localname not in ("urlset", "sitemapindex"):
        raise ParseError(url, "not a sitemap (no urlset or sitemapindex)", "not_a_feed")
    entries = tuple(_entries(root, url))
    if etree.QName(root).localname == "sitemapindex":
        return Sitemap(children=entries)
    return Sitemap(urls=entries)


def walk(
    get: GetPage,
    first: FetchResult,
    state: Mapping[str, Any],
    include: str | None = None,
    site: str | None = None,
) -> Walk:
    """Every page of the sitemap ``first`` and of the sitemaps it indexes.

    Args:
        get: the run's guarded fetch, for child sitemaps.
        first: the sitemap (or sitemap index) the harvester fetched.
        state: the crawl state of the last run (its ``"sitemaps"`` part is used: a
            child whose ``lastmod`` did not change is not fetched again).
        include: a regular expression; only page URLs it matches (``re.search``).
        site: only pages on this URL's site (registrable host); default ``first``'s.

    Raises:
        ParseError: ``first`` is not a sitemap.
    """
    known: Mapping[str, Any] = state.get("sitemaps") or {}
    pattern = re.compile(include) if include else None
    site = site or first.url
    listed: dict[str, Page] = {}
    warnings: list[str] = []
    children: dict[str, Any] = {}
    complete = True
    off_site = 0

    def add(urls: Iterable[Sequence[Any]]) -> None:
        nonlocal off_site
        for loc, lastmod in urls:
            if not same_site(loc, site):
                off_site += 1
            elif pattern is None or pattern.search(loc):
                listed.setdefault(loc, Page(loc, lastmod))

    top = parse_sitemap(first.body, first.url)
    add(top.urls)
    queue = [(loc, lastmod, 1) for loc, lastmod in top.children]
    seen = {first.url}
    while queue:
        loc, lastmod, depth = queue.pop(0)
        if loc in seen or depth > MAX_DEPTH:
            continue
        seen.add(loc)
        before = known.get(loc)
        if lastmod and before and before.get("lastmod") == lastmod:
            children[loc] = before  # unchanged since the last run: not fetched
            add(before.get("urls") or ())
            continue
        try:
            child = parse_sitemap(get(loc, accept=SITEMAP_ACCEPT).body, loc)
        except ConnectorError as e:
            complete = False
            warnings.append(f"sitemap {loc}: {e.message}")
            if before:  # its pages as the last run knew them, still read or kept
                children[loc] = {"lastmod": None, "urls": before.get("urls") or []}
                add(before.get("urls") or ())
            if isinstance(e, PageCapReached):
                break
            continue
        children[loc] = {"lastmod": lastmod, "urls": [list(u) for u in child.urls]}
        add(child.urls)
        queue += [(c, m, depth + 1) for c, m in child.children]
    if off_site:
        warnings.append(f"{off_site} sitemap URLs on other sites left out")
    return Walk(tuple(listed.values()), tuple(warnings), complete, children)


def read_pages(
    get: GetPage,
    pages: Iterable[Page],
    state: Mapping[str, Any],
    read: Callable[[FetchResult], Sequence[RawItem]],
    *,
    accept: str,
    fetched: Mapping[str, FetchResult] | None = None,
) -> PageSet:
    """Read each page with ``read`` unless its ``lastmod`` is what the last run saw.

    A page with a lastmod equal to the stored one is not fetched: its items' ids are
    ``kept``. A page without lastmod is always fetched. A page that fails (fetch or
    ``read`` raising ``ConnectorError``) loses its own items and makes the set
    incomplete; the page cap stops the loop. Items get a guid that is unique in the
    set and stable between runs: their own, else their link, else ``page#n``.

    Args:
        state: the crawl state of the last run (its ``"pages"`` part is used).
        read: a page's items; raises ``ConnectorError`` for an unusable page.
        fetched: pages the caller already has (the source URL itself), by URL.
    """
    known: Mapping[str, Any] = state.get("pages") or {}
    items: list[RawItem] = []
    kept: list[str] = []
    records: dict[str, Any] = {}
    failed: list[str] = []
    failures: list[ConnectorError] = []
    empty: list[str] = []
    taken: set[str] = set()
    count = 0
    capped: str | None = None
    pages = list(pages)
    for page in pages:  # kept pages first: their ids are taken before new ones
        before = known.get(page.url)
        if page.lastmod and before and before.get("lastmod") == page.lastmod:
            records[page.url] = before
            kept += [i for i in before.get("ids") or () if i not in taken]
            taken.update(kept)
    for i, page in enumerate(pages):
        if page.url in records:
            continue
        try:
            result = (fetched or {}).get(page.url) or get(page.url, accept=accept)
            found = read(result)
        except PageCapReached as e:
            left = sum(1 for p in pages[i:] if p.url not in records)
            capped = f"{e.message}; {left} pages left for the next run"
            break
        except ConnectorError as e:
            failed.append(f"{page.url}: {e.message}")
            failures.append(e)
            continue
        count += 1
        ids = []
        for n, item in enumerate(found, 1):
            guid = _unique(item.guid or item.link, f"{page.url}#{n}", taken)
            items.append(dataclasses.replace(item, guid=guid))
            ids.append(guid)
        if not ids:
            empty.append(page.url)
        records[page.url] = {"lastmod": page.lastmod, "ids": ids}
    warnings = []
    if failed:
        more = f" and {len(failed) - _SHOWN} more" if len(failed) > _SHOWN else ""
        warnings.append(
            f"{len(failed)} pages failed: " + "; ".join(failed[:_SHOWN]) + more
        )
    if capped:
        warnings.append(capped)
    return PageSet(
        items=items,
        kept=tuple(kept),
        state=records,
        warnings=tuple(warnings),
        complete=not failed and capped is None,
        read=count,
        empty=tuple(empty),
        failures=tuple(failures),
    )


def _unique(guid: str | None, fallback: str, taken: set[str]) -> str:
    """``guid`` (stripped) unless missing, too long or already used; else
    ``fallback``, which is unique per page and position."""
    guid = (guid or "").strip()
    if not guid or len(guid) > MAX_KEY or guid in taken:
        guid = fallback
    while guid in taken:  # a page listed twice under one URL cannot happen; be safe
        guid += "+"
    taken.add(guid)
    return guid


def _entries(root: Any, base: str) -> Iterable[tuple[str, str | None]]:
    for entry in root:
        if not isinstance(entry.tag, str):
            continue  # comments, processing instructions
        if etree.QName(entry).localname not in ("url", "sitemap"):
            continue
        loc = lastmod = None
        for field in entry:
            if not isinstance(field.tag, str):
                continue
            name = etree.QName(field).localname
            if name == "loc":
                loc = (field.text or "").strip()
            elif name == "lastmod":
                lastmod = (field.text or "").strip() or None
        if not loc:
            continue
        loc = urljoin(base, loc)
        if urlsplit(loc).scheme in ("http", "https"):
            yield loc, lastmod


def _gunzip(body: bytes, url: str, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """A ``.xml.gz`` sitemap served as a file (no Content-Encoding), uncompressed
    up to the protocol's 50 MB (or ``limit``); other bodies unchanged."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise ParseError(url, f"broken gzip sitemap: {e}", "parse") from e
    if len(out) > MAX_SITEMAP_BYTES:
        raise FetchError(url, "sitemap larger than 50 MB uncompressed", "too_large")
    return out
