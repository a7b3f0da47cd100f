"""Connectors: one module per source type.

Each is registered here under the ``type:`` names of YAML. Built-ins use the same
registry as any addition. Never imports Flask, SQLAlchemy or ``hub``.
"""

from __future__ import annotations

from connectors.base import Connector
from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.base import stream
from connectors.discover import DiscoverConnector
from connectors.html import HtmlConnector
from connectors.jsonfeed import JsonFeedConnector
from connectors.jsonld import JsonLdConnector
from connectors.rss import RssConnector

_REGISTRY: dict[str, Connector] = {}


def register(connector: Connector, *aliases: str) -> None:
    """Make ``connector`` available under its ``source_type`` and any aliases."""
    for name in (connector.source_type, *aliases):
        _REGISTRY[name] = connector


def get_connector(source_type: str) -> Connector:
    """Return the connector for a YAML ``type:``; raises KeyError for an unknown one."""
    return _REGISTRY[source_type]


def source_types() -> list[str]:
    """Every ``type:`` name a source may use, sorted."""
    return sorted(_REGISTRY)


register(RssConnector(), "atom")
register(JsonFeedConnector())
register(JsonLdConnector())
register(DiscoverConnector())
register(HtmlConnector())

__all__ = [
    "Connector",
    "ConnectorError",
    "FetchError",
    "FetchResult",
    "ParseError",
    "RawItem",
    "Source",
    "get_connector",
    "register",
    "source_types",
    "stream",
]
