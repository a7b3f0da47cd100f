"""``type: jsonld``: pages whose embedded schema.org JSON-LD or microdata (extracted by
extruct) carries JobPosting, Offer / Demand, Event or Organization / LocalBusiness.

The pages come from the source ``url`` itself (plus ``pages:``), from a sitemap at
``url`` (``include:`` filters it; ``lastmod`` spares unchanged pages), or from
``links:`` on a listing page at ``url`` (``next:`` follows its pagination). Only
pages on the source's site are read. No network of its own: pages come through the
harvester's ``GetPage``; no index, no Flask.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

import extruct
import lxml.html
from extruct.jsonld import JsonLdExtractor
from lxml import etree
from lxml.cssselect import CSSSelector
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import field_validator
from pydantic import model_validator

from connectors import schemaorg
from connectors.base import ConnectorError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.charset import decode
from connectors.site import same_site
from connectors.sitemap import Page
from connectors.sitemap import is_sitemap
from connectors.sitemap import read_pages
from connectors.sitemap import walk
from connectors.sniff import sniff

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_SCRIPTS = etree.XPath(
    "//script[translate(normalize-space(@type), 'LDJSON', 'ldjson')"
    " = 'application/ld+json']"
)
_SHOWN = 3


class Selector(BaseModel):
    """Where links are on a page: ``{xpath: "//a[@class='job']/@href"}`` or
    ``{css: "a.job"}`` (elements give their ``href``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    xpath: str | None = None
    css: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Selector:
        if (self.xpath is None) == (self.css is None):
            raise ValueError("give exactly one of 'xpath' or 'css'")
        self.compiled()  # a wrong expression is refused with the file and line
        return self

    def compiled(self) -> etree.XPath:
        try:
            if self.css is not None:
                return CSSSelector(self.css)
            return etree.XPath(self.xpath or "")
        except Exception as e:  # XPathSyntaxError, cssselect's SelectorError
            raise ValueError(f"not a valid expression: {e}") from None

    def hrefs(self, tree: Any, base: str) -> list[str]:
        """Absolute http(s) URLs the selector finds, in document order, once each."""
        found = []
        for hit in self.compiled()(tree):
            href = hit.get("href") if isinstance(hit, etree._Element) else hit
            if isinstance(href, str) and href.strip():
                url = urljoin(base, href.strip()).split("#")[0]
                if url.startswith(("http://", "https://")):
                    found.append(url)
        return list(dict.fromkeys(found))


class JsonLdOptions(BaseModel):
    """The ``jsonld`` keys of a source in ``clusters.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pages: list[str] | None = None
    links: Selector | None = None
    next: Selector | None = None
    include: str | None = None

    @field_validator("pages")
    @classmethod
    def _http(cls, pages: list[str] | None) -> list[str] | None:
        for page in pages or ():
            if not page.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {page!r}")
        return pages

    @field_validator("include")
    @classmethod
    def _regex(cls, include: str | None) -> str | None:
        try:
            re.compile(include or "")
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return include

    @model_validator(mode="after")
    def _next_needs_links(self) -> JsonLdOptions:
        if self.next is not None and self.links is None:
            raise ValueError("'next' follows a listing's pages: give 'links' too")
        return self


_KEYS = tuple(JsonLdOptions.model_fields)


class JsonLdConnector:
    """``type: jsonld`` in YAML."""

    source_type = "jsonld"
    accept = "text/html, application/xhtml+xml;q=0.9, application/xml;q=0.8, */*;q=0.1"
    scrapes = True
    options_model = JsonLdOptions

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        """The items of one page (no further pages are fetched)."""
        return ParsedDocument(items=list(read_page(source, result).items))

    def crawl(
        self,
        source: Source,
        first: FetchResult,
        get: GetPage,
        state: Mapping[str, Any],
    ) -> ParsedDocument:
        options = JsonLdOptions.model_validate(
            {k: v for k, v in source.options.items() if k in _KEYS}
        )
        warnings: list[str] = []
        complete = True
        sitemaps: Mapping[str, Any] = {}
        extra = [Page(url) for url in options.pages or ()]
        if is_sitemap(first.body):
            found = walk(get, first, state, options.include, site=source.url)
            pages = [*found.pages, *extra]
            warnings += found.warnings
            complete, sitemaps = found.complete, found.state
            fetched: dict[str, FetchResult] = {}
        elif options.links is not None:
            links, complete, notes = _listing(source, first, get, options)
            pages, fetched = [*(Page(u) for u in links), *extra], {}
            warnings += notes
        else:
            pages, fetched = [Page(source.url), *extra], {source.url: first}
        off_site = [p.url for p in pages if not same_site(p.url, source.url)]
        if off_site:
            warnings.append("pages on other sites left out: " + ", ".join(off_site))
        broken: list[str] = []

        def read(result: FetchResult) -> Sequence[RawItem]:
            page = read_page(source, result)
            if page.broken:
                broken.append(result.url)
            return page.items

        done = read_pages(
            get,
            [p for p in pages if p.url not in off_site],
            state,
            read,
            accept=PAGE_ACCEPT,
            fetched=fetched,
        )
        if not done.items and not done.kept and done.failures:
            first_error = done.failures[0]
            raise ConnectorError(
                source.url,
                f"every page failed, e.g. {first_error.url}: {first_error.message}",
                first_error.error_class,
            )
        if done.read and not done.items and not done.kept:
            raise ParseError(
                source.url,
                f"no schema.org JobPosting, Offer, Demand, Event or Organization "
                f"on the {done.read} pages read",
                "parse",
            )
        warnings += done.warnings
        if broken:
            warnings.append(_some("malformed JSON-LD left out on", broken))
        if done.empty and (options.include or not sitemaps):
            warnings.append(_some("no schema.org items on", list(done.empty)))
        return ParsedDocument(
            items=list(done.items),
            kept=done.kept,
            complete=complete and done.complete,
            state={"pages": dict(done.state), "sitemaps": dict(sitemaps)},
            warnings=tuple(warnings),
        )


@dataclasses.dataclass(frozen=True)
class PageItems:
    """The items of one page, and whether a JSON-LD block of it was malformed."""

    items: list[RawItem]
    broken: bool


def read_page(source: Source, result: FetchResult) -> PageItems:
    """The schema.org items of one HTML page; links resolved against its URL.

    Raises:
        ParseError: an empty body, a feed or JSON rather than a page.
    """
    tree, base = html_tree(source, result)
    roots: list[Any] = []
    broken = False
    extractor = JsonLdExtractor()
    for script in _SCRIPTS(tree):  # one block at a time: a broken one spoils no other
        try:
            roots += extractor.extract_items(script)
        except (ValueError, RecursionError):
            broken = True
    roots += extruct.extract(
        tree, base_url=base, syntaxes=["microdata"], uniform=True, errors="log"
    ).get("microdata", [])
    nodes = schemaorg.graph(roots)
    language = _page_language(tree)
    items = [
        item
        for node, subject in schemaorg.entities(roots)
        if (item := schemaorg.to_item(node, subject, base, nodes, language))
    ]
    return PageItems(items, broken)


def _listing(
    source: Source, first: FetchResult, get: GetPage, options: JsonLdOptions
) -> tuple[list[str], bool, list[str]]:
    """Detail page URLs from the listing at ``url`` and its ``next`` pages: the
    links, whether every listing page was read, and warnings.

    Raises:
        ParseError: the first listing page has no link the selector matches.
    """
    assert options.links is not None
    links: list[str] = []
    result, seen = first, {first.url, source.url}
    while True:
        tree, base = html_tree(source, result)
        found = options.links.hrefs(tree, base)
        if not found and result is first:
            raise ParseError(
                source.url, "'links' matched nothing on the listing page", "parse"
            )
        links += [u for u in found if same_site(u, source.url) and u not in links]
        nxt = options.next.hrefs(tree, base) if options.next else []
        if not nxt or nxt[0] in seen or not same_site(nxt[0], source.url):
            return links, True, []
        seen.add(nxt[0])
        try:
            result = get(nxt[0], accept=PAGE_ACCEPT)
        except PageCapReached as e:
            return links, False, [f"listing {nxt[0]}: {e.message}"]
        except ConnectorError as e:
            return links, False, [f"listing page {nxt[0]}: {e.message}"]


def html_tree(source: Source, result: FetchResult) -> tuple[Any, str]:
    """The page's HTML tree (charset per connectors.charset: valid UTF-8, else the
    source's ``encoding``, else the declared one) and its base URL.

    Raises:
        ParseError: an empty body, a feed or JSON rather than a page.
    """
    kind = sniff(result.body)
    if kind == "empty":
        raise ParseError(result.url, "empty body", "empty_body")
    if kind in ("json", "feed"):
        raise ParseError(result.url, f"not an HTML page ({kind})", "parse")
    text = decode(
        result.body,
        result.url,
        content_type=result.headers.get("Content-Type"),
        configured=source.options.get("encoding"),
    )
    try:  # a parser per call: lxml parsers are not shared between pool threads
        tree = lxml.html.document_fromstring(
            text.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8")
        )
    except (etree.ParserError, ValueError) as e:
        raise ParseError(result.url, f"not an HTML page: {e}", "parse") from e
    return tree, _base(tree, result.url)


def _base(tree: Any, url: str) -> str:
    """The page's ``<base href>`` resolved against its URL, else its URL."""
    hrefs = tree.xpath("//head/base/@href")
    return urljoin(url, hrefs[0].strip()) if hrefs and hrefs[0].strip() else url


def _page_language(tree: Any) -> str | None:
    tag = (
        tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    )
    primary = tag.split("-")[0].split("_")[0].strip().lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _some(what: str, urls: list[str]) -> str:
    more = f" and {len(urls) - _SHOWN} more" if len(urls) > _SHOWN else ""
    return f"{what} {len(urls)} pages: " + ", ".join(urls[:_SHOWN]) + more
