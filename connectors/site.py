"""Which URLs belong to one site: the same registrable domain (eTLD+1 by the Public
Suffix List, bundled with ``publicsuffixlist``: no network), or the same host for IP
addresses and names the list does not know.

Pure: no network.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList


@functools.cache
def _list() -> PublicSuffixList:
    return PublicSuffixList()  # parsing the list takes a moment: once per process


def site_of(url: str) -> str:
    """The registrable domain of ``url`` (``www.metal.com.pl`` -> ``metal.com.pl``);
    the host itself for an IP address or a name without public suffix."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return _list().privatesuffix(host) or host


def same_site(url: str, other: str) -> bool:
    """Are both URLs http(s) on one site (ports and schemes aside)?"""
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    return site_of(url) == site_of(other)
