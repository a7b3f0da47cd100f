"""HTTP content codings (RFC 9110 §8.4), decoded as a stream in bounded steps.

Only gzip and deflate, at most two layers; every step yields at most CHUNK bytes,
so a bomb never inflates in memory. Pure: no network; the caller counts and caps.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

CHUNK = 64 * 1024
MAX_CODINGS = 2  # "gzip, gzip" is odd but seen; three layers is an attack
SUPPORTED = ("gzip", "x-gzip", "deflate")  # x-gzip: RFC 9110 §8.4.1.3


class CodingError(Exception):
    """A body's content codings are refused or cannot be decoded."""


def parse_codings(value: str) -> list[str]:
    """The codings a Content-Encoding value lists, in the order they were applied.

    Raises:
        CodingError: more than MAX_CODINGS, or one that is not gzip or deflate
            (we ask for gzip only, RFC 9110 §12.5.3; br, zstd, compress are refused).
    """
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > MAX_CODINGS:
        raise CodingError(
            f"{len(codings)} content codings ({value}); at most {MAX_CODINGS}"
        )
    for coding in codings:
        if coding not in SUPPORTED:
            raise CodingError(f"unsupported content coding {coding!r}")
    return codings


class Decoder:
    """Undoes a chain of codings: ``feed`` each piece of the body as it arrives,
    then ``finish``; both yield decoded pieces of at most CHUNK bytes."""

    def __init__(self, codings: list[str]) -> None:
        self._stages = [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(data, 0)

    def finish(self) -> Iterator[bytes]:
        for i, stage in enumerate(self._stages):
            for piece in stage.finish():
                yield from self._through(piece, i + 1)

    def _through(self, data: bytes, i: int) -> Iterator[bytes]:
        if i == len(self._stages):
            yield data
            return
        for piece in self._stages[i].feed(data):
            yield from self._through(piece, i + 1)


class _Inflater:
    """One gzip or deflate layer."""

    def __init__(self, coding: str) -> None:
        self.name = "deflate" if coding == "deflate" else "gzip"
        self._obj: Any = None
        self._head = b""  # deflate: the first two bytes tell zlib from raw
        self._more = False  # the last step filled CHUNK: output may be pending
        self._extra = False  # past the first gzip member: an error means junk
        self._done = False  # the stream ended: later bytes are ignored

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._obj is None:
            if self.name == "gzip":
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                self._head += data
                if len(self._head) < 2:
                    return
                data, self._head = self._head, b""
                self._obj = zlib.decompressobj(_deflate_wbits(data))
        yield from self._inflate(data)

    def finish(self) -> Iterator[bytes]:
        """What is left at the end of the body.

        A stream cut before its trailer is passed on as it is (browsers and urllib3
        do the same); the parser judges what is left.
        """
        if self._obj is None and self._head:
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            yield from self._inflate(self._head)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while (data or self._more) and not self._done:
            try:
                out = self._obj.decompress(data, CHUNK)
            except zlib.error as e:
                if self._extra:  # junk after the last gzip member: ignored
                    self._done = True
                    return
                raise CodingError(f"bad {self.name} body: {e}") from e
            self._more = len(out) == CHUNK
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                data, self._more = self._obj.unused_data, False
                if self.name == "gzip":  # another member may follow (RFC 1952 §2.2)
                    self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self._extra = True
                else:
                    self._done = True
            if out:
                yield out


def _deflate_wbits(head: bytes) -> int:
    # RFC 9110 §8.4.1.2 says zlib (RFC 1950); some servers send raw RFC 1951.
    zlib_header = head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
