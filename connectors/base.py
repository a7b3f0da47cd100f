"""The connector contract.

The types that pass between the registry, a connector and the hub.

Pure data and the error hierarchy only: no network, no database, no Flask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol


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
    empty.
    """

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


@dataclasses.dataclass(frozen=True)
class RawItem:
    """One item as a connector found it: no sanitising, no inference, no defaults.

    ``content`` is HTML as published; ``language`` is what the document declares, if
    anything.
    """

    guid: str
    link: str | None
    title: str
    summary: str | None = None
    content: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None


class Connector(Protocol):
    """A source type. ``parse`` is pure: bytes in, raw items out."""

    source_type: str
    accept: str

    def parse(self, source: Source, result: FetchResult) -> list[RawItem]: ...


class ConnectorError(Exception):
    """Root of the errors a connector raises; carries the source URL."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url
        self.message = message


class FetchError(ConnectorError):
    """The source could not be fetched (network, timeout, HTTP status, size cap)."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(url, message)
        self.status = status


class ParseError(ConnectorError):
    """The fetched document is not usable as a whole."""
