"""What a fetched body is, from its first bytes (Content-Type is only a hint), and
whether it mentions some bytes anywhere.

Pure: no network.
"""

from __future__ import annotations

import re
from typing import BinaryIO

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


def mentions(body: bytes | BinaryIO, *needles: bytes) -> bool:
    """Whether any of ``needles`` is anywhere in ``body``: bytes, or a file read
    from its start a megabyte at a time (a spilled body, never whole in memory)
    and left at its start."""
    if isinstance(body, bytes):
        return any(needle in body for needle in needles)
    overlap = max(map(len, needles)) - 1  # of a needle across two reads
    body.seek(0)
    tail = b""
    try:
        while chunk := body.read(1 << 20):
            across = tail + chunk[:overlap]
            if any(needle in across or needle in chunk for needle in needles):
                return True
            tail = chunk[-overlap:] if overlap else b""
        return False
    finally:
        body.seek(0)
