"""The connector contract: types passed between the registry, a connector and the hub.

Pure data and the error hierarchy only: no network, no database, no Flask.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from feeds.profile import Contact
from feeds.profile import Location
from feeds.profile import Organisation


@dataclasses.dataclass(frozen=True)
class Source:
    """One feed or page set of a cluster, as the registry declares it.

    Attributes:
        key: stable identity across reloads, ``"<cluster>/<id>"``.
        cluster: slug of the cluster that owns the source.
        type: connector name (``rss``, ``atom`` ...), as written in ``clusters.yaml``.
        url: where the source is fetched.
        interval: how often it should be harvested.
        options: connector- and mapping-specific settings from the YAML.
    """

    key: str
    cluster: str
    type: str
    url: str
    interval: timedelta
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch of a source returned.

    ``not_modified`` is true for a 304 answer to a conditional GET; ``body`` is then
    empty. ``url`` is the final URL after redirects. ``body_path``: the body is in
    that file instead (a big one, handed so to a parsing process): ``loaded()``.
    """

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    body_path: str | None = None

    def loaded(self) -> FetchResult:
        """This result with its body in memory: read from ``body_path`` if there."""
        if self.body_path is None:
            return self
        with open(self.body_path, "rb", buffering=0) as file:
            body = file.readall()  # one buffer of the file's size, not pieces joined
        return dataclasses.replace(self, body=body, body_path=None)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Sent to a parsing worker (pickle protocol 5, connectors.workers), the body
        # travels out of band: the harvester writes a 100 MB feed to the worker from
        # where it lies, instead of copying it into a pickle first.
        if protocol < 5:
            return super().__reduce_ex__(protocol)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["body"] = pickle.PickleBuffer(self.body)
        return FetchResult, tuple(fields.values())


@dataclasses.dataclass(frozen=True)
class RawItem:
    """One item as a connector found it: no sanitising, no inference, no defaults.

    ``guid`` is the document's own id for the item, if it has one (the hub derives a
    key when it has not). ``content`` is HTML as published; ``language`` is what the
    document declares, if anything. The fields after ``language`` are what richer
    documents (the offer feed profile, schema.org) say and plain feeds leave empty:
    the declared ``kind``, NACE ``sectors``, ESCO ``occupations``, and the ``group``
    id shared by the language versions of one offer.
    """

    guid: str | None
    link: str | None
    title: str
    summary: str | None = None
    content: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    valid_through: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None
    kind: str | None = None
    organisation: Organisation | None = None
    location: Location | None = None
    sectors: tuple[str, ...] = ()
    occupations: tuple[str, ...] = ()
    contact: Contact | None = None
    group: str | None = None


@dataclasses.dataclass(frozen=True)
class ParsedDocument:
    """Everything a connector read from one document.

    Attributes:
        items: the items, in document order.
        deleted: ids of items the document says are withdrawn (RFC 6721 tombstones).
        complete: the document declares it lists every live item (RFC 5005
            ``fh:complete``), or ``None`` when it does not say.
        ttl: how long the publisher asks to wait before fetching again (RSS ``ttl``).
        skipped: items that were unusable and left out (no title and no link...).
        finished: the document says it will never update again (JSON Feed
            ``expired: true``): its offers are over.
        kept: ids of items a crawler did not re-read because their page did not
            change since the last run (a sitemap ``lastmod``); they count as seen.
        state: what a crawler wants back at its next run (``Crawler.crawl``), or
            ``None`` to keep the previous state.
        warnings: problems that lost part of the document but not all of it (a
            detail page that failed, the page cap reached); shown on the run.
        next_page: the next page of a paged feed (RFC 5005 ``next``, JSON Feed
            ``next_url``), which the harvester follows (connectors.paging).
    """

    items: list[RawItem]
    deleted: tuple[str, ...] = ()
    complete: bool | None = None
    ttl: timedelta | None = None
    skipped: int = 0
    finished: bool = False
    kept: tuple[str, ...] = ()
    state: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    next_page: str | None = None


class Connector(Protocol):
    """A source type. ``parse`` is pure: bytes in, a parsed document out."""

    source_type: str
    accept: str

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument: ...


class Items(Protocol):
    """Where a streaming connector hands over items as it reads them
    (``Streamer``): neither it nor the hub holds a big document's items at once."""

    def take(self, item: RawItem) -> None: ...

    def retract(self) -> None:
        """Forget every item taken from this document: the connector reads it again
        another way (a fast reader that gave up half-way)."""


class Streamer(Connector, Protocol):
    """A source type that hands over items as it reads them.

    ``stream`` gives every item of the document to ``items``, in document order
    (after a ``retract``, from the first again), and returns the document without
    them: ``parse`` is ``stream`` into a list.
    """

    def stream(
        self, source: Source, result: FetchResult, items: Items
    ) -> ParsedDocument: ...


class Collected:
    """``Items`` into a list: a streaming connector's ``parse``."""

    def __init__(self) -> None:
        self.items: list[RawItem] = []

    def take(self, item: RawItem) -> None:
        self.items.append(item)

    def retract(self) -> None:
        self.items.clear()


def stream(
    connector: Connector, source: Source, result: FetchResult, items: Items
) -> ParsedDocument:
    """Any connector's document with its items handed to ``items``: as they are
    read by a ``Streamer``, after the whole document by the others. A body left
    in its file (``result.body_path``) is loaded first, unless the connector
    ``reads_files``."""
    if not getattr(connector, "reads_files", False):
        result = result.loaded()
    if hasattr(connector, "stream"):
        return connector.stream(source, result, items)  # type: ignore[no-any-return]
    return handed(connector.parse(source, result), items)


def handed(document: ParsedDocument, items: Items) -> ParsedDocument:
    """``document``'s items given to ``items``; the document without them."""
    for item in document.items:
        items.take(item)
    return dataclasses.replace(document, items=[])


class GetPage(Protocol):
    """Fetches one more page of a source through the hub's guarded fetch path:
    destination checks, limits, robots.txt for scraping connectors, the per-host
    slot, and the source's page cap (``PageCapReached`` once it is spent)."""

    def __call__(self, url: str, *, accept: str) -> FetchResult: ...


class Crawler(Connector, Protocol):
    """A source type whose first document leads to more pages (a listing with
    pagination and detail pages, a sitemap, a homepage with feed links).

    ``crawl`` replaces ``parse``: it gets the first document, a ``GetPage`` for the
    others, and the ``state`` its last run returned (``ParsedDocument.state``). It
    never touches the network by itself. A page that fails loses its own items
    only (``warnings``); a document with a failed page must not claim to be
    ``complete``.
    """

    def crawl(
        self,
        source: Source,
        first: FetchResult,
        get: GetPage,
        state: Mapping[str, Any],
    ) -> ParsedDocument: ...


MAX_PAGES = 200  # pages one run of a crawler may fetch; YAML ``max_pages`` lowers it


# The closed set of error classes a run records (shown on the status page).
ERROR_CLASSES = (
    "timeout",
    "too_large",
    "blocked_destination",
    "redirects",
    "protocol",
    "network",
    "http_status",
    "not_a_feed",
    "empty_body",
    "encoding",
    "parse",
    "parse_timeout",
    "robots",  # a scraping connector's page that robots.txt disallows (RFC 9309)
    "internal",
)


class ConnectorError(Exception):
    """Root of the errors a connector raises; carries the URL and an error class."""

    error_class = "internal"

    def __init__(self, url: str, message: str, error_class: str | None = None) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url
        self.message = message
        if error_class is not None:
            assert error_class in ERROR_CLASSES, error_class
            self.error_class = error_class


class FetchError(ConnectorError):
    """The source could not be fetched (network, timeout, HTTP status, size cap)."""

    error_class = "network"

    def __init__(
        self,
        url: str,
        message: str,
        error_class: str | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url, message, error_class)
        self.status = status
        self.headers = dict(headers or {})


class PageCapReached(FetchError):
    """A crawler asked for more pages than its run may fetch."""

    error_class = "too_large"


class ParseError(ConnectorError):
    """The fetched document is not usable as a whole."""

    error_class = "parse"
