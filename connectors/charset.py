"""The charset of fetched bytes: valid UTF-8 wins, else the configured, else the
declared legacy encoding (ISO-8859-2, windows-1250/1257 of old PL/LT sites).

Pure: bytes in, text out; no network.
"""

from __future__ import annotations

import codecs
import re

from connectors.base import ParseError

_XML_DECL = re.compile(
    rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"""
)
_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)["'][^"']*["']""")
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
# C0 controls other than tab, newline, carriage return: illegal in XML, noise in text.
_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The encoding the document or its Content-Type header declares, if any."""
    head = body[:2048]
    for match in (_XML_DECL.match(head), _META.search(head)):
        if match:
            return match[1].decode("ascii")
    if content_type:
        header = _HEADER.search(content_type)
        if header:
            return header[1]
    return None


def decode(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    configured: str | None = None,
) -> str:
    """Decode ``body`` to text with C0 control characters removed.

    Raises:
        ParseError: (class ``encoding``) no usable encoding.
    """
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        encoding = configured or declared_encoding(body, content_type)
        if encoding is None or _is_utf8(encoding):
            raise ParseError(
                url, "not valid UTF-8 and no other encoding declared", "encoding"
            ) from None
        try:
            text = body.decode(encoding)
        except LookupError as e:
            raise ParseError(url, f"unknown encoding {encoding!r}", "encoding") from e
        except UnicodeDecodeError as e:
            raise ParseError(
                url, f"not valid {encoding}: {e.reason}", "encoding"
            ) from e
    return text.translate(_CONTROLS)


def to_utf8_xml(text: str) -> bytes:
    """UTF-8 bytes of an XML document whose declaration now says so."""
    return _XML_DECL_TEXT.sub(r'\1"utf-8"', text, count=1).encode("utf-8")


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False
