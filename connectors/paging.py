"""Paged feeds (RFC 5005 §3): a feed whose documents link the ``next`` page, or a
JSON Feed with ``next_url``, is one listing spread over several documents.

``follow`` walks the pages a first document leads to and joins them into one
ParsedDocument. It never touches the network itself: the caller's ``read_page``
fetches and parses one page (the harvester: the guarded fetch, a bounded parse).
A listing is complete only as a whole: when a page cannot be read, the joined
document keeps every item read but claims no completeness, so nothing is withdrawn
for being absent.

Archived feeds (RFC 5005 §4, ``prev-archive``) are not walked: their archives hold
the past, and the current document alone says what is live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from urllib.parse import urljoin

from connectors.base import ConnectorError
from connectors.base import ParsedDocument
from connectors.site import same_site

ReadPage = Callable[[str], ParsedDocument]

# The state a paged feed's run leaves (ParsedDocument.state): its first page may be
# unchanged while later ones are not, so the next run reads it again.
PAGED = "paged"


def follow(url: str, first: ParsedDocument, read_page: ReadPage) -> ParsedDocument:
    """``first`` (read from ``url``) joined with every page after it, with the
    state that says whether the feed is paged.

    Pages are followed while each names a next one on the same site as ``url``, not
    seen before in this walk; ``read_page`` raising a ConnectorError (a fetch or
    parse failure, the page cap) ends the walk with a warning.
    """
    if not first.next_page:
        return dataclasses.replace(first, state={})
    pages, warnings = [first], []
    seen = {url}
    next_page = urljoin(url, first.next_page)
    while next_page not in seen:
        if not same_site(next_page, url):
            warnings.append(f"next page {next_page} is on another site: not followed")
            break
        seen.add(next_page)
        try:
            page = read_page(next_page)
        except ConnectorError as e:
            warnings.append(f"page {len(pages) + 1} ({next_page}): {e}")
            break
        pages.append(page)
        if not page.next_page:
            break
        next_page = urljoin(next_page, page.next_page)
    return _join(pages, warnings)


def _join(pages: list[ParsedDocument], warnings: list[str]) -> ParsedDocument:
    first = pages[0]
    complete = first.complete
    if warnings and complete is not False:
        complete = False  # partial: neither the document nor the YAML may withdraw
    return dataclasses.replace(
        first,
        items=[item for page in pages for item in page.items],
        deleted=tuple(ref for page in pages for ref in page.deleted),
        complete=complete,
        skipped=sum(page.skipped for page in pages),
        warnings=tuple(w for page in pages for w in page.warnings) + tuple(warnings),
        state={PAGED: True},
        next_page=None,
    )
