"""Sample member sites served offline on loopback: the metal cluster (Polish, with
English and Lithuanian versions of some offers) and the wood cluster (Lithuanian),
generated from the data files in data/ with feeds.writer, plus static sites in sites/.

Exports the server, the feed paths and the data loader the tests share.
"""

from __future__ import annotations

from feeds.samples.data import DATA_DIR
from feeds.samples.data import Site
from feeds.samples.data import is_live
from feeds.samples.data import load_sites
from feeds.samples.data import sample_firms
from feeds.samples.data import sample_offers
from feeds.samples.server import METAL_COMPANIES_JSON_PATH
from feeds.samples.server import METAL_COMPANIES_PATH
from feeds.samples.server import METAL_FEED_PATH
from feeds.samples.server import METAL_JSON_FEED_PATH
from feeds.samples.server import ORIGIN_PLACEHOLDER
from feeds.samples.server import SITES_ROOT
from feeds.samples.server import WOOD_COMPANIES_JSON_PATH
from feeds.samples.server import WOOD_COMPANIES_PATH
from feeds.samples.server import WOOD_FEED_PATH
from feeds.samples.server import WOOD_JSON_FEED_PATH
from feeds.samples.server import SampleSites

__all__ = [
    "DATA_DIR",
    "METAL_COMPANIES_JSON_PATH",
    "METAL_COMPANIES_PATH",
    "METAL_FEED_PATH",
    "METAL_JSON_FEED_PATH",
    "ORIGIN_PLACEHOLDER",
    "SITES_ROOT",
    "WOOD_COMPANIES_JSON_PATH",
    "WOOD_COMPANIES_PATH",
    "WOOD_FEED_PATH",
    "WOOD_JSON_FEED_PATH",
    "SampleSites",
    "Site",
    "is_live",
    "load_sites",
    "sample_firms",
    "sample_offers",
]
