"""The charset of fetched bytes: valid UTF-8 wins, else the configured, else the
declared legacy encoding (ISO-8859-2, windows-1250/1257 of old PL/LT sites).

Pure: bytes in, text out; no network.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable
from typing import BinaryIO

from connectors.base import ParseError

_XML_DECL = re.compile(
    rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"""
)
_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)["'][^"']*["']""")
_XML_DECL_BYTES = re.compile(_XML_DECL_TEXT.pattern.encode())
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
# C0 controls other than tab, newline, carriage return: illegal in XML, noise in text.
_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])
_ANY_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A C0 control byte is never part of a UTF-8 sequence: found in bytes as in text.
_ANY_CONTROL_BYTE = re.compile(_ANY_CONTROL.pattern.encode())
_PIECE = 1 << 20  # bytes checked at a time (_clean_utf8)


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
    # translate() copies the whole text, and looks up every character: only when needed
    return text.translate(_CONTROLS) if _ANY_CONTROL.search(text) else text


def to_utf8_xml(text: str) -> bytes:
    """UTF-8 bytes of an XML document whose declaration now says so."""
    return _XML_DECL_TEXT.sub(r'\1"utf-8"', text, count=1).encode("utf-8")


def xml_as_utf8(
    body: bytes,
    url: str,
    *,
    content_type: str | None = None,
    configured: str | None = None,
) -> bytes:
    """``to_utf8_xml(decode(body, ...))``, without decoding a body that is clean
    UTF-8 already: that body is returned as it is (or with its declaration
    rewritten), where the text of a 100 MB feed would take 200-400 MB, twice.

    Raises:
        ParseError: as ``decode``.
    """
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    view = memoryview(body)
    if not _clean_utf8(view[i : i + _PIECE] for i in range(0, len(body), _PIECE)):
        return to_utf8_xml(
            decode(body, url, content_type=content_type, configured=configured)
        )
    declared = _XML_DECL.match(body[:2048])
    if declared is None or _is_utf8(declared[1].decode("ascii")):
        return body  # 'utf-8', "UTF-8", utf8: as it is, not a copy of 100 MB
    head = body[: declared.end()]
    utf8_head = _XML_DECL_BYTES.sub(rb'\1"utf-8"', head, count=1)
    return body if utf8_head == head else utf8_head + body[declared.end() :]


def utf8_as_is(file: BinaryIO) -> bool:
    """Whether the XML in ``file`` is what ``xml_as_utf8`` returns as it is (but
    for a BOM): valid UTF-8 without control bytes, declared UTF-8 or undeclared.
    Read from its start, a megabyte at a time; it is left at its end."""
    file.seek(0)
    declared = _XML_DECL.match(file.read(2048).removeprefix(codecs.BOM_UTF8))
    if declared is not None and not _is_utf8(declared[1].decode("ascii")):
        return False
    file.seek(0)
    return _clean_utf8(iter(functools.partial(file.read, _PIECE), b""))


def _clean_utf8(pieces: Iterable[bytes | memoryview]) -> bool:
    """Valid UTF-8 without a C0 control byte, checked a piece at a time: no text
    of the whole body is made."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for piece in pieces:
            if _ANY_CONTROL_BYTE.search(piece):
                return False
            decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False
