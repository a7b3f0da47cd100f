"""Items made ready for the index in batches: keyed and normalised where they are
parsed (a parsing worker, connectors.bounded), spooled by the fetch thread, written
batch by batch.

    parsing worker: prepare() ─ Batch ─ emit ─> fetch thread: Spool.add (bytes)
        ─> writer: for batch in spool: upsert

So normalising runs beside the writer, on another core, and no process holds all
the offers of a big feed at once: the spool keeps them pickled, in memory up to
``SPOOL_MEMORY`` and in a temporary file beyond.

Pure but for the spool's temporary file: no network, no database.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import tempfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime

from connectors.base import RawItem
from connectors.base import Source
from hub.identity import assign_keys
from hub.normalize import OfferData
from hub.normalize import ProfileData
from hub.normalize import is_company_profile
from hub.normalize import to_offer
from hub.normalize import to_profile

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


def prepare(
    source: Source,
    items: Iterable[RawItem],
    now: datetime,
    seen: dict[str, int],
    emit: Callable[[Batch], None],
) -> None:
    """Key and normalise ``items`` of ``source``, emitting a Batch per BATCH_SIZE.

    ``seen`` counts the keys of the listing's earlier pages (identity.assign_keys)
    and is updated. One item that cannot be normalised is counted, logged and left
    out; it never loses the others.
    """
    offers: list[OfferData] = []
    profiles: list[ProfileData] = []
    failed = 0
    for key, item in assign_keys(items, seen):
        try:
            if is_company_profile(item):  # an organisation, not an offer
                profiles.append(to_profile(source, key, item))
            else:
                offers.append(to_offer(source, key, item, now))
        except Exception:
            log.exception("item %r of %s could not be normalised", key, source.key)
            failed += 1
        if len(offers) + len(profiles) + failed >= BATCH_SIZE:
            emit(Batch(tuple(offers), tuple(profiles), failed))
            offers, profiles, failed = [], [], 0
    if offers or profiles or failed:
        emit(Batch(tuple(offers), tuple(profiles), failed))


class Spool:
    """The pickled batches of one run, in the order they came; read back one
    batch at a time, as often as needed."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by close)
            max_size=SPOOL_MEMORY, prefix="ecoop-spool-"
        )
        self.batches = 0

    def add(self, payload: bytes) -> None:
        """One batch as ``pickle.dumps(Batch)`` (what bounded.call's sink gets)."""
        self._file.seek(0, 2)
        self._file.write(len(payload).to_bytes(_HEADER, "big"))
        self._file.write(payload)
        self.batches += 1

    def __iter__(self) -> Iterator[Batch]:
        self._file.seek(0)
        for _ in range(self.batches):
            size = int.from_bytes(self._file.read(_HEADER), "big")
            batch = pickle.loads(self._file.read(size))
            assert isinstance(batch, Batch)
            yield batch

    def close(self) -> None:
        self._file.close()
