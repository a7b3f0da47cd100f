"""Search latency (p50/p95/p99) of a fixed query set, and the index size on disk.

Runs hub.search as the site does, on the database at --database-url (filled by
bench.generate first unless it already holds --offers offers). Never run by pytest.
Usage: python -m bench.search --offers 100000 --database-url sqlite:///x.db
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time

import sqlalchemy as sa

from bench.generate import NOW
from bench.generate import generate
from hub import collector
from hub import db as hub_db
from hub import search_segments
from hub.models import Offer
from hub.search import OfferQuery
from hub.search import search_offers

# (group, query): single word, two words, folded, prefix, phrase, place, filters,
# facet counts. Words come from bench.generate's word lists.
QUERIES: list[tuple[str, OfferQuery]] = [
    ("single word", OfferQuery(text="spawacz")),
    ("single word", OfferQuery(text="stalius")),
    ("single word", OfferQuery(text="welder")),
    ("single word", OfferQuery(text="iso")),  # in ~40% of offers
    ("two words", OfferQuery(text="obróbka cnc")),
    ("two words", OfferQuery(text="medinės žaliuzės")),
    ("two words", OfferQuery(text="laser cutting")),
    ("folded", OfferQuery(text="obrobka skrawaniem")),
    ("folded", OfferQuery(text="zaliuzes")),
    ("folded", OfferQuery(text="SLUSARZ")),
    ("prefix", OfferQuery(text="zaliuz")),
    ("prefix", OfferQuery(text="spaw")),
    ("prefix", OfferQuery(text="fr")),
    ("phrase", OfferQuery(text='"cięcie laserowe"')),
    ("phrase", OfferQuery(text='"metalo apdirbimas" -paroda')),
    ("place", OfferQuery(text="Druskienniki")),
    ("place", OfferQuery(text="Wilno stalius")),
    ("filtered", OfferQuery(text="spawacz", kind="job-offer", country="PL")),
    ("filtered", OfferQuery(text="mediena", language="lt", kind="business-offer")),
    ("filtered", OfferQuery(kind="event", country="LT")),
    ("date sort", OfferQuery(text="iso", sort="date")),
    ("browse", OfferQuery()),
    ("facets", OfferQuery(text="obrobka", facets=True)),
    ("facets", OfferQuery(text="iso", kind="job-offer", facets=True)),
    ("facets", OfferQuery(facets=True)),
]


@dataclasses.dataclass
class Timing:
    group: str
    samples: list[float] = dataclasses.field(default_factory=list)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def label(group: str, query: OfferQuery) -> str:
    """A query as the figures name it: its group, text and filters."""
    filters = [v for v in (query.kind, query.language, query.country) if v]
    facets = ["facets"] if query.facets else []
    return " ".join([f"{group}: {query.text or '-'}", *filters, *facets])


def run(
    url: str, repeat: int, pauses: collector.Pauses, *, settle: bool = True
) -> tuple[dict[str, Timing], dict[str, str], dict[str, Timing]]:
    """Timings per group (and "all"), each query's total, timings per query; the
    collector's passes during the timed runs go to ``pauses``."""
    engine = hub_db.make_engine(url)
    sessions = hub_db.make_sessionmaker(engine)
    timings: dict[str, Timing] = {}
    hits: dict[str, str] = {}
    each: dict[str, Timing] = {}
    if settle:  # as a web worker does once the site is loaded
        collector.settle()
    with sessions() as db, contextlib.ExitStack() as stack:
        for group, query in QUERIES:  # warm the caches once
            page = search_offers(db, query, NOW)
            more = "+" if page.total_is_lower_bound else ""
            hits[label(group, query)] = f"{page.total}{more}"
        stack.enter_context(pauses)
        for _ in range(repeat):
            for group, query in QUERIES:
                started = time.perf_counter()
                search_offers(db, query, NOW)
                elapsed = (time.perf_counter() - started) * 1000
                timings.setdefault(group, Timing(group)).samples.append(elapsed)
                timings.setdefault("all", Timing("all")).samples.append(elapsed)
                name = label(group, query)
                each.setdefault(name, Timing(name)).samples.append(elapsed)
    engine.dispose()
    return timings, hits, each


def index_size(url: str) -> dict[str, int]:
    """Bytes on disk: the search index, the offers table, the whole database."""
    engine = hub_db.make_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            sizes = dict(
                connection.exec_driver_sql(
                    "SELECT CASE WHEN name LIKE 'offers_fts%' THEN 'fts' "
                    "WHEN name LIKE 'ix_offers_search%' THEN 'covering' END AS part, "
                    "sum(pgsize) FROM dbstat GROUP BY part"
                ).all()
            )
            result = {
                "search index": sizes.get("fts", 0) + sizes.get("covering", 0),
                "FTS5 tables": sizes.get("fts", 0),
                "covering indexes": sizes.get("covering", 0),
                "database file": os.path.getsize(str(engine.url.database)),
                "page size": page,
            }
        else:
            row = connection.exec_driver_sql(
                "SELECT pg_relation_size('ix_offers_search_vector'), "
                "(SELECT sum(pg_relation_size(indexrelid)) FROM pg_index "
                "WHERE indrelid = 'offers'::regclass "
                "AND indexrelid::regclass::text ~ '^ix_offers_search_seg_'), "
                "sum(pg_column_size(search_vector)), "
                "pg_relation_size('ix_offers_search_facets'), "
                "pg_total_relation_size('offers') FROM offers"
            ).one()
            gin, segments, column, facets, table = (int(v or 0) for v in row)
            result = {
                "search index": gin + segments + column + facets,
                "GIN index": gin,
                "GIN indexes of the segments": segments,
                "tsvector column": column,
                "covering index": facets,
                "offers table (total)": table,
            }
    engine.dispose()
    return result


def count_offers(url: str) -> int:
    engine = hub_db.make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(Offer)) or 0
    except sa.exc.DBAPIError:
        return 0
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--hits", action="store_true", help="print each query's total")
    parser.add_argument(
        "--per-query", action="store_true", help="print each query's median"
    )
    parser.add_argument(
        "--no-segments",
        action="store_true",
        help="PostgreSQL: drop the segment indexes (hub.search_segments) first",
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="leave the start-up objects to the collector (web workers settle them)",
    )
    args = parser.parse_args(argv)
    if count_offers(args.database_url) != args.offers:
        seconds = generate(args.database_url, args.offers)
        print(f"generated {args.offers} offers in {seconds:.1f} s")
    engine = hub_db.make_engine(args.database_url)
    # One generated by an older hub, migrated as `ecoop db upgrade` would (at head:
    # nothing to do).
    hub_db.upgrade(engine)
    # As the harvest tick keeps them; segments too large for any table: none.
    search_segments.refresh(engine, 2**40 if args.no_segments else None)
    engine.dispose()
    pauses = collector.Pauses()
    timings, hits, each = run(
        args.database_url, args.repeat, pauses, settle=args.settle
    )
    engine = sa.make_url(args.database_url).get_backend_name()
    print(f"\n{engine}, {args.offers:,} offers, {args.repeat} runs of each query")
    print(f"{'queries':<12} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, timing in timings.items():
        print(
            f"{name:<12} {len(timing.samples):>5} {timing.percentile(50):>8.1f} "
            f"{timing.percentile(95):>8.1f} {timing.percentile(99):>8.1f}"
        )
    settled = "settled" if args.settle else "not settled"
    print(f"collector during the runs ({settled}): {pauses}")
    for name, size in index_size(args.database_url).items():
        print(f"{name}: {_size(size)}")
    if args.hits:
        for name, total in hits.items():
            print(f"  {total:>8}  {name}")
    if args.per_query:
        for name, timing in each.items():
            print(f"  {timing.percentile(50):8.1f} ms  {name}")
    return 0


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size > 10_000 else str(size)


if __name__ == "__main__":
    sys.exit(main())
