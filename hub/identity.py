"""Offer identity within a source: the document's id, else the normalised link, else a
hash of title and date; duplicates inside one document get distinct, stable keys.

Pure: no network, no database, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from collections.abc import Iterator
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from connectors.base import RawItem

# Query parameters that identify a visit, not a page.
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_hs")
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_KEY = 1000
# A URL normalise_url would only cut the fragment of and lower the host of: lower
# case http(s), a plain host, a path without blanks or controls, no query. Most
# links are: splitting and joining one took 6-10 us, matching this takes 1.
_PLAIN_URL = re.compile(
    r"(https?)://([A-Za-z0-9.-]+)(/[^\x00-\x20?#]*)?(?:#[^\x00-\x20]*)?"
)


def normalise_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters
    dropped; path and the rest of the query kept as published."""
    url = url.strip()
    if plain := _PLAIN_URL.fullmatch(url):
        scheme, host, path = plain.groups()
        return f"{scheme}://{host.lower()}{path or '/'}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    query = parts.query and urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING)
        ]
    )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def item_key(item: RawItem) -> str:
    """The key of one item, before duplicates are told apart."""
    if item.guid:
        key = item.guid.strip()
    elif item.link:
        key = normalise_url(item.link)
    else:
        stamp = item.published or item.updated
        key = (
            "sha256:"
            + hashlib.sha256(
                f"{item.title}\n{stamp.isoformat() if stamp else ''}".encode()
            ).hexdigest()[:32]
        )
    if len(key) > MAX_KEY:  # absurdly long ids still get a stable, storable key
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def assign_keys(
    items: Iterable[RawItem], seen: dict[str, int] | None = None
) -> Iterator[tuple[str, RawItem]]:
    """Each item with its key; the n-th repeat of a key becomes ``key#n`` (n >= 2).

    Stable while the document keeps its order, which is all a publisher that reuses
    ids lets us rely on. ``seen`` counts the keys of earlier pages of the same
    listing, and is updated: pass the same dict for every page.
    """
    seen = {} if seen is None else seen
    for item in items:
        yield next_key(item, seen), item


def next_key(item: RawItem, seen: dict[str, int]) -> str:
    """``item``'s key after the items counted in ``seen`` (``assign_keys``), which
    counts it too."""
    key = item_key(item)
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key}#{seen[key]}"
