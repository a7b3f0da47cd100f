"""Items made ready for the index in batches: keyed and normalised where they are
parsed (a parsing worker, connectors.bounded), spooled by the fetch thread, written
batch by batch.

    parsing worker: connector ─ item ─> Preparer.take ─ Batch ─ emit
        ─> fetch thread: Spool.add (bytes) ─> writer: for batch in spool: upsert

So normalising runs beside the writer, on another core, and no process holds all
the offers of a big feed at once: the connector hands over each item as it reads
it (connectors.base.Streamer), the spool keeps the batches pickled, in memory up to
``SPOOL_MEMORY`` and in a temporary file beyond.

Pure but for the spool's temporary file: no network, no database.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from connectors.base import RawItem
from connectors.base import Source
from connectors.bounded import Emit
from connectors.sniff import mentions
from hub.identity import next_key
from hub.normalize import OfferData
from hub.normalize import ProfileData
from hub.normalize import is_company_profile
from hub.normalize import to_offer
from hub.normalize import to_profile
from hub.text import without_nul

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # items per batch: one ``_known`` query and one insert each
SPOOL_MEMORY = 16 * 1024 * 1024  # bytes of pickled batches kept in memory
_HEADER = 8  # bytes of a batch's length prefix in the spool


@dataclasses.dataclass(frozen=True)
class Batch:
    """Up to BATCH_SIZE items of one run, ready for the index; ``failed`` counts
    those that could not be normalised."""

    offers: tuple[OfferData, ...] = ()
    profiles: tuple[ProfileData, ...] = ()
    failed: int = 0


class Preparer:
    """Items of one document taken as they come (a connector's ``Items``), keyed,
    normalised and emitted as a Batch per BATCH_SIZE; ``finish`` emits the rest.

    ``seen`` counts the keys of the listing's earlier pages (identity.assign_keys)
    and is updated. One item that cannot be normalised is counted, logged and left
    out; it never loses the others. ``retract`` takes back the document's batches
    and keys, emitted or not.
    """

    def __init__(
        self,
        source: Source,
        now: datetime,
        seen: dict[str, int],
        emit: Emit,
        *,
        pg_vectors: bool = False,
        nul_free: bool = False,
    ) -> None:
        self.source, self.now, self.seen, self.emit = source, now, seen, emit
        self.pg_vectors = pg_vectors  # the offers' PostgreSQL vectors (to_offer)
        # The document holds no NUL (may_hold_nul): its items need no cleaning.
        self.nul_free = nul_free
        self._seen_before = dict(seen)
        self._emitted = 0
        # Items wait for a batch's worth, then are normalised together: each one
        # as the reader gave it, the worker took 14 % more CPU over the harvest
        # bench's corpus (likely the caches: the parser's and the normaliser's
        # working sets taking turns).
        self._waiting: list[RawItem] = []

    def take(self, item: RawItem) -> None:
        self._waiting.append(item)
        if len(self._waiting) >= BATCH_SIZE:
            self._emit()

    def retract(self) -> None:
        if self._emitted:
            self.emit.retract(self._emitted)
        self._emitted = 0
        self.seen.clear()
        self.seen.update(self._seen_before)
        self._waiting = []

    def finish(self) -> None:
        if self._waiting:
            self._emit()

    def _emit(self) -> None:
        offers: list[OfferData] = []
        profiles: list[ProfileData] = []
        failed = 0
        for item in self._waiting:
            if not self.nul_free:  # what PostgreSQL's text cannot hold
                item = without_nul(item)
            key = next_key(item, self.seen)
            try:
                if is_company_profile(item):  # an organisation, not an offer
                    profiles.append(to_profile(self.source, key, item))
                else:
                    offers.append(
                        to_offer(
                            self.source, key, item, self.now, pg_vector=self.pg_vectors
                        )
                    )
            except Exception:
                log.exception(
                    "item %r of %s could not be normalised", key, self.source.key
                )
                failed += 1
        self._waiting = []
        self.emit(Batch(tuple(offers), tuple(profiles), failed))
        self._emitted += 1


# How a NUL character can come out of a document: as itself (or in UTF-16), as a JSON
# escape, as an XML or HTML character reference ("&#0;", "&#x00;"; "&#039;" matches
# too, and only costs the items a check).
_NUL_SIGNS = (b"\x00", b"\\u0000", b"&#0", b"&#x0", b"&#X0")


def may_hold_nul(body: bytes | BinaryIO) -> bool:
    """Whether a document (its bytes, or a file of them, left at its start) may give
    an item a NUL character: if not, its items need no ``without_nul`` (~7 us
    each)."""
    return mentions(body, *_NUL_SIGNS)


class Spool:
    """The pickled batches of one run, in the order they came; read back one
    batch at a time, as often as needed."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by close)
            max_size=SPOOL_MEMORY, prefix="ecoop-spool-"
        )
        self._starts: list[int] = []  # each batch's offset in the file

    @property
    def batches(self) -> int:
        return len(self._starts)

    def add(self, payload: bytes) -> None:
        """One batch as ``pickle.dumps(Batch)`` (a bounded.Sink: what the parsing
        worker emits)."""
        self._starts.append(self._file.seek(0, 2))
        self._file.write(len(payload).to_bytes(_HEADER, "big"))
        self._file.write(payload)

    def retract(self, count: int) -> None:
        """Drop the last ``count`` batches: their document is being read again."""
        if count:
            self._file.truncate(self._starts[-count])
            del self._starts[-count:]

    def __iter__(self) -> Iterator[Batch]:
        self._file.seek(0)
        for _ in range(self.batches):
            size = int.from_bytes(self._file.read(_HEADER), "big")
            batch = pickle.loads(self._file.read(size))
            assert isinstance(batch, Batch)
            yield batch

    def close(self) -> None:
        self._file.close()
