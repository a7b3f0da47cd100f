"""JSON Feed 1.0/1.1, with the ``_ecoop`` extension of the offer feed profile when
present, through feeds.reader. Returns a ParsedDocument only; no index, no Flask."""

from __future__ import annotations

from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import Source
from connectors.profile import parse_profile
from connectors.sniff import sniff


class JsonFeedConnector:
    """``type: jsonfeed`` in YAML."""

    source_type = "jsonfeed"
    accept = "application/feed+json, application/json;q=0.9, */*;q=0.1"

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        kind = sniff(result.body)
        if kind == "empty":
            raise ParseError(source.url, "empty body", "empty_body")
        if kind != "json":
            raise ParseError(
                source.url, f"not a JSON Feed (looks like {kind})", "not_a_feed"
            )
        return parse_profile(source, result.body)  # expired: true, finished
