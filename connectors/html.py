"""Member sites without a feed: a listing page (followed through its ``next`` links)
and optional detail pages, read with the XPath/CSS field map of the YAML
(connectors.html_map). Legacy charsets via connectors.charset.

A map that matches nothing is an error, not an empty success: the layout changed.
Returns a ParsedDocument only; fetches further pages only through the ``get`` the
harvester hands in. No index, no Flask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.charset import decode
from connectors.html_map import Compiled
from connectors.html_map import HtmlOptions
from connectors.html_map import compile_map
from connectors.local_dates import parse_date
from connectors.sniff import sniff
from feeds.profile import Location
from feeds.profile import OfferKind
from feeds.profile import Organisation

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_COUNTRIES = {
    "lietuva": "LT",
    "lithuania": "LT",
    "litwa": "LT",
    "polska": "PL",
    "poland": "PL",
    "lenkija": "PL",
}
_MAX_LISTED = 5  # failed detail pages named in a warning; the rest are counted
_LANG = etree.XPath("ancestor-or-self::*[@lang][1]/@lang")
_BASE = etree.XPath("//base/@href")
_KINDS = {k.value for k in OfferKind}


class HtmlConnector:
    """``type: html``: offers scraped from a member site's own pages."""

    source_type = "html"
    accept = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
    scrapes = True  # robots.txt applies to every page (RFC 9309)
    options_model = HtmlOptions

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        """The first page alone: no pagination, no detail pages."""
        return self.crawl(source, result, _no_more_pages, {})

    def crawl(
        self,
        source: Source,
        first: FetchResult,
        get: GetPage,
        state: Mapping[str, Any],
    ) -> ParsedDocument:
        options = HtmlOptions.of(source.options)
        listing = _Listing(source, options, get, self.accept)
        listing.read(first)
        listing.read_details()
        return ParsedDocument(
            items=listing.items,
            skipped=listing.skipped,
            complete=False if listing.warnings else None,
            warnings=tuple(listing.warnings),
        )


def _no_more_pages(url: str, *, accept: str) -> FetchResult:
    raise PageCapReached(url, "only the first page is read here")


class _Listing:
    """One run over a listing: its pages, then its items' detail pages."""

    def __init__(
        self, source: Source, options: HtmlOptions, get: GetPage, accept: str
    ) -> None:
        self.source, self.options, self.get, self.accept = source, options, get, accept
        self.items_expr = Compiled(options.items)
        self.fields = compile_map(options.fields)
        self.detail = compile_map(options.detail)
        self.next = Compiled(options.next) if options.next else None
        self.rows: list[tuple[dict[str, Any], str | None]] = []  # values, lang
        self.items: list[RawItem] = []
        self.skipped = 0
        self.warnings: list[str] = []

    def read(self, first: FetchResult) -> None:
        kind = sniff(first.body)
        if kind == "empty":
            raise ParseError(self.source.url, "empty body", "empty_body")
        if kind in ("json", "feed"):
            raise ParseError(
                self.source.url,
                "a feed, not an HTML page (use type: rss, atom or jsonfeed)",
                "not_a_feed",
            )
        matched: set[str] = set()
        links: set[str] = set()
        seen, page, number = {first.url}, first, 1
        while True:
            try:
                root, base = self._document(page)
            except ParseError as e:
                if number == 1:
                    raise
                self.warnings.append(f"page {number} ({page.url}): {e.message}")
                break
            blocks = self.items_expr.find(root)
            if not blocks:
                message = f"items: {self.items_expr.label} matched nothing"
                if number == 1:
                    raise ParseError(page.url, message, "parse")
                self.warnings.append(f"page {number} ({page.url}): {message}")
                break
            for block in blocks:
                if not isinstance(block, etree._Element):
                    continue
                values = _values(self.fields, block, base, matched)
                link = values.get("link")
                if link in links:  # moved to the next page while we paged: once
                    continue
                if link:
                    links.add(link)
                self.rows.append((values, _lang(block)))
            url = self._next_url(root, base)
            if url is None or url in seen:
                break
            seen.add(url)
            try:
                page = self.get(url, accept=self.accept)
            except FetchError as e:
                self.warnings.append(f"page {number + 1} ({url}): {e.message}")
                break
            number += 1
        _check_matched(self.fields, matched, "fields", len(self.rows), first.url)

    def read_details(self) -> None:
        matched: set[str] = set()
        read, failed, capped = 0, [], 0
        for values, lang in self.rows:
            link = values.get("link")
            if self.detail and link and not capped:
                try:
                    root, base = self._document(self.get(link, accept=self.accept))
                except PageCapReached:
                    capped += 1
                except (FetchError, ParseError) as e:
                    failed.append(f"{link}: {e.message}")
                else:
                    read += 1
                    found = _values(self.detail, root, base, matched)
                    values = {**values, **{k: v for k, v in found.items() if v}}
            elif capped and link:
                capped += 1
            self._add(values, lang)
        if capped:
            self.warnings.append(
                f"page cap reached: {capped} detail pages not read, "
                "their offers have the listing's fields only"
            )
        if failed:
            more = len(failed) - _MAX_LISTED
            self.warnings.append(
                "detail pages failed: "
                + "; ".join(failed[:_MAX_LISTED])
                + (f"; and {more} more" if more > 0 else "")
            )
        if read:
            _check_matched(self.detail, matched, "detail", read, self.source.url)

    def _document(self, page: FetchResult) -> tuple[Any, str]:
        text = decode(
            page.body,
            page.url,
            content_type=page.headers.get("Content-Type"),
            configured=self.source.options.get("encoding"),
        )
        try:
            root = lxml.html.document_fromstring(
                _XML_DECL.sub("", text, count=1) or "<html></html>",
                parser=lxml.html.HTMLParser(remove_comments=True, no_network=True),
            )
        except (etree.ParserError, ValueError) as e:
            raise ParseError(page.url, f"not an HTML page: {e}", "parse") from e
        declared = _BASE(root)
        return root, urljoin(
            page.url, str(declared[0]).strip()
        ) if declared else page.url

    def _next_url(self, root: Any, base: str) -> str | None:
        if self.next is None:
            return None
        links = self.next.texts(self.next.find(root), link=True)
        return urljoin(base, links[0]) if links else None

    def _add(self, values: dict[str, Any], lang: str | None) -> None:
        title = values.get("title")
        if not title:
            self.skipped += 1
            return
        date_format = self.options.date_format
        categories = list(values.get("category", ()))
        kind = values.get("kind")
        if kind and kind not in _KINDS:  # a site's own word: rules map it
            categories.append(kind)
            kind = None
        country = _country(values.get("country"))
        town = values.get("town")
        organisation = values.get("organisation")
        self.items.append(
            RawItem(
                guid=values.get("guid"),
                link=values.get("link"),
                title=title,
                summary=values.get("summary"),
                content=values.get("body"),
                published=parse_date(values.get("date"), date_format),
                updated=parse_date(values.get("updated"), date_format),
                valid_through=parse_date(
                    values.get("valid_through"), date_format, end_of_day=True
                ),
                author=values.get("author"),
                categories=tuple(dict.fromkeys(categories)),
                language=_language(values.get("language")) or lang,
                kind=kind,
                organisation=Organisation(name=organisation, country=country)
                if organisation
                else None,
                location=Location(country=country, town=town)
                if country or town
                else None,
            )
        )


def _values(
    fields: Mapping[str, Compiled], context: Any, base: str, matched: set[str]
) -> dict[str, Any]:
    """Each mapped field's value in ``context``; names of fields that found a node
    are added to ``matched``."""
    values: dict[str, Any] = {}
    for name, expr in fields.items():
        found = expr.find(context)
        if found:
            matched.add(name)
        if name == "body" or name == "summary":
            values[name] = expr.markup(found) or None
        elif name == "category":
            values[name] = tuple(expr.texts(found))
        else:
            texts = expr.texts(found, link=name in ("link", "guid"))
            value = texts[0] if texts else None
            if name == "link" and value:
                value = urljoin(base, value)
            values[name] = value
    return values


def _check_matched(
    fields: Mapping[str, Compiled], matched: set[str], key: str, count: int, url: str
) -> None:
    for name, expr in fields.items():
        if name not in matched:
            raise ParseError(
                url,
                f"{key}.{name}: {expr.label} matched nothing in {count} "
                f"{'items' if key == 'fields' else 'detail pages'}",
                "parse",
            )


def _lang(block: Any) -> str | None:
    found = _LANG(block)
    return _language(str(found[0])) if found else None


def _language(value: str | None) -> str | None:
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def _country(value: str | None) -> str | None:
    text = (value or "").strip()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    return _COUNTRIES.get(text.lower())
