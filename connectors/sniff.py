"""What a fetched body is, from its first bytes (Content-Type is only a hint).

Pure: no network.
"""

from __future__ import annotations

import re

_FEED_ROOT = re.compile(rb"<(?:[A-Za-z0-9_-]+:)?(rss|feed|RDF)[\s>/]")
_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)


def sniff(body: bytes) -> str:
    """One of ``empty``, ``json``, ``feed`` (RSS/Atom/RDF root), ``html``, ``xml``,
    ``unknown``."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "empty"
    if head[:1] in (b"{", b"["):
        return "json"
    if _FEED_ROOT.search(head):
        return "feed"
    if _HTML.search(head):
        return "html"
    if head.startswith(b"<"):
        return "xml"
    return "unknown"
