"""JSON Feed 1.0/1.1, with the ``_ecoop`` extension of the offer feed profile when
present, through feeds.reader. Returns a ParsedDocument only; no index, no Flask."""

from __future__ import annotations

import dataclasses

from connectors.base import Collected
from connectors.base import FetchResult
from connectors.base import Items
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import Source
from connectors.profile import stream_profile
from connectors.sniff import sniff
from feeds._xml import peek


class JsonFeedConnector:
    """``type: jsonfeed`` in YAML."""

    source_type = "jsonfeed"
    accept = "application/feed+json, application/json;q=0.9, */*;q=0.1"
    reads_files = True  # a body left in its file (connectors.base.stream)

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        items = Collected()
        document = self.stream(source, result, items)
        return dataclasses.replace(document, items=items.items)

    def stream(
        self, source: Source, result: FetchResult, items: Items
    ) -> ParsedDocument:
        """Each item handed to ``items`` as it is read; a body left in its file is
        read from there, item by item (``expired: true``: finished)."""
        if result.body_path is None:
            _check(source, peek(result.body, 4096))
            return stream_profile(source, result.body, items)
        with open(result.body_path, "rb") as file:
            _check(source, peek(file, 4096))
            return stream_profile(source, file, items)


def _check(source: Source, head: bytes) -> None:
    """Refuse what is not JSON, from the body's first bytes."""
    kind = sniff(head)
    if kind == "empty":
        raise ParseError(source.url, "empty body", "empty_body")
    if kind != "json":
        raise ParseError(
            source.url, f"not a JSON Feed (looks like {kind})", "not_a_feed"
        )
