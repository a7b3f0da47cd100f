"""PostgreSQL: GIN indexes over fixed ranges of offer ids (segments).

A search reads the newest matches of its words (a window, hub/search.py). For a word
in a few percent of the offers, hub.search_plan reads only the matches above a
floor, among the newest offers. The one GIN index of the whole table cannot stop
there: it returns every match of every word before an id range is applied, and at a
million offers that bitmap is most of such a search's time (bench/README.md,
PostgreSQL). A segment holds the ids in (lo, hi], a multiple of SEGMENT apart, and
has a partial GIN index of its own; a read above a floor on a segment boundary asks
each segment's index for its matches alone (one branch of a UNION ALL per segment),
so its work grows with the offers above the floor, not with the table.

A branch's range is exactly its index's predicate, so the planner has no cheaper
index to prefer: with a narrower id range, PostgreSQL (15) takes the id index
first and then counts a partial index whose predicate that range implies as
redundant, falling back to the whole table's GIN index.

New offers get higher ids. ``refresh`` (each harvest tick) builds the indexes of
the NEWEST_SEGMENTS segments the offers reach and of the next one, while it is
still empty, CONCURRENTLY (harvests and searches go on), and drops older ones. A
table spanning fewer than MIN_SEGMENTS segments gets none: its whole index is as
small. The whole-table index stays for every other read, and for a read reaching
below the segments. SQLite has nothing to do here (FTS5 reads its doclists newest
first).
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.search_ddl import PG_COLUMN

log = logging.getLogger(__name__)

SEGMENT = 65_536  # ids per segment
MIN_SEGMENTS = 4  # a table spanning fewer segments is left to its whole index
# Only the newest segments are indexed apart (about a million ids): a read reaching
# below them is rare (a word that rare is read whole), and each partial index adds
# to the planning of every statement on offers: ~20 µs (bench/README.md).
NEWEST_SEGMENTS = 16
_NAME = re.compile(r"(?:^|\.)ix_offers_search_seg_(\d+)_(\d+)$")
_LOCK = 0x0EC0_0B5E  # pg_try_advisory_lock key: one refresh at a time, any worker

# Every segment index on offers, valid or not: a failed CONCURRENTLY build leaves an
# invalid one behind, unused by reads but still updated on every write.
_INDEXES = (
    "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = 'offers'::regclass AND c.relname ~ :pattern"
)
_PATTERN = "^ix_offers_search_seg_[0-9]+_[0-9]+$"
# The offers' id range and the names of their valid indexes (a few: no join).
_LAYOUT = sa.text(
    "SELECT min(id), max(id), (SELECT array_agg(indexrelid::regclass::text) "
    "FROM pg_index WHERE indrelid = 'offers'::regclass AND indisvalid) FROM offers"
)


class Layout(NamedTuple):
    """The offers' lowest and highest id, and the (lo, hi] id ranges of the valid
    segment indexes, lowest first."""

    oldest: int | None
    newest: int | None
    segments: tuple[tuple[int, int], ...]


def layout(db: Session) -> Layout:
    """One statement: the offers' id range and the segments indexed."""
    oldest, newest, names = db.execute(_LAYOUT).one()
    ranges = (_NAME.search(name) for name in names or ())
    return Layout(
        oldest, newest, tuple(sorted((int(m[1]), int(m[2])) for m in ranges if m))
    )


def refresh(engine: sa.Engine, size: int | None = None) -> tuple[tuple[int, int], ...]:
    """Build the indexes of the NEWEST_SEGMENTS segments of ``size`` ids
    (SEGMENT) that the offers reach, and of the next; drop every other (older, of
    another size, left invalid). Returns the segments indexed: none on SQLite, or
    for a table spanning fewer than MIN_SEGMENTS. Another worker refreshing
    meanwhile is left to it."""
    if engine.dialect.name != "postgresql":
        return ()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK}):
            return ()
        try:
            return _refresh(conn, size or SEGMENT)
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK})


def _refresh(conn: sa.Connection, size: int) -> tuple[tuple[int, int], ...]:
    rows = conn.execute(sa.text(_INDEXES), {"pattern": _PATTERN})
    indexes: dict[str, bool] = {name: valid for name, valid in rows}
    oldest, newest = conn.execute(sa.text("SELECT min(id), max(id) FROM offers")).one()
    wanted: list[tuple[int, int]] = []
    if newest is not None and newest - oldest >= MIN_SEGMENTS * size:
        last = (newest - 1) // size + 1  # the next segment's, built while empty
        first = max((oldest - 1) // size, last - NEWEST_SEGMENTS)
        wanted = [(k * size, (k + 1) * size) for k in range(first, last + 1)]
    names = {_name(lo, hi): (lo, hi) for lo, hi in wanted}
    for name, valid in indexes.items():
        if name not in names or not valid:
            conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    # Newest first: searches read the newest segments, and a first build of a
    # large table takes a while (bench/README.md: ~1 min at a million offers).
    built = [name for name in reversed(names) if not indexes.get(name)]
    for name in built:
        lo, hi = names[name]
        log.info("search: indexing the offers with ids in (%d, %d] apart", lo, hi)
        conn.exec_driver_sql(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON offers "
            f"USING gin ({PG_COLUMN}) WHERE id > {lo:d} AND id <= {hi:d}"
        )
    if built:
        # A build leaves GIN's entry count as the index's rows: the planner would
        # price a segment as larger than the whole index and never use it.
        conn.exec_driver_sql("ANALYZE offers")
    return tuple(wanted)


def _name(lo: int, hi: int) -> str:
    return f"ix_offers_search_seg_{lo:d}_{hi:d}"
