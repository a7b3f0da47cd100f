"""Sample member sites served offline on loopback: a Polish cluster (RSS 2.0)
and a Lithuanian one (Atom 1.0).

Owns the static site files under sites/ and exports the server and the feed paths.
"""

from __future__ import annotations

from feeds.samples.server import METAL_FEED_PATH
from feeds.samples.server import ORIGIN_PLACEHOLDER
from feeds.samples.server import SITES_ROOT
from feeds.samples.server import WOOD_FEED_PATH
from feeds.samples.server import SampleSites

__all__ = [
    "METAL_FEED_PATH",
    "ORIGIN_PLACEHOLDER",
    "SITES_ROOT",
    "WOOD_FEED_PATH",
    "SampleSites",
]
