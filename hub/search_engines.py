"""The two engines of hub.search: SQLite FTS5 and PostgreSQL full-text search.

Each builds the same pieces of a query (text match, newest-first order, a per-offer
probe, the relevance score) for hub/search.py; the indexes are hub/search_ddl.py's.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import search_ddl
from hub import search_query
from hub.models import Offer
from hub.search_query import ParsedQuery

# The newest matches one search reads at most (hub/search.py).
WINDOW = 1_000

# Ranking (issue 8): title above organisation and categories above body...
# bm25() column weights, in hub.search_ddl's column order: title, organisation,
# categories, body (PostgreSQL: weights A, B, B, C).
SQLITE_WEIGHTS = (10.0, 5.0, 4.0, 1.0)
# ...and recent offers boosted: the text score is divided by 1 + age / RECENCY_DAYS,
# so an offer of that age needs twice the text score of a new one.
RECENCY_DAYS = 90.0

_FTS = sa.table("offers_fts", sa.column("rowid"))
_FTS_NAME = sa.literal_column("offers_fts")
_VECTOR = sa.literal_column("offers.search_vector")
_SIMPLE = sa.literal_column("'simple'::regconfig")


class Sqlite:
    """FTS5: MATCH on offers_fts, bm25() with column weights."""

    scores_in_window = True  # bm25() needs the MATCH that found the row

    def join(self, select: sa.Select[Any], parsed: ParsedQuery) -> sa.Select[Any]:
        if not parsed.include:
            return select
        return select.join(_FTS, _FTS.c.rowid == Offer.id)

    def match(self, parsed: ParsedQuery) -> list[sa.ColumnElement[bool]]:
        if parsed.include:
            text = search_query.to_fts5(parsed.include)
            if parsed.exclude:
                text = f"({text}) NOT ({search_query.to_fts5_any(parsed.exclude)})"
            return [_FTS_NAME.op("MATCH")(sa.bindparam("fts_query", text))]
        if parsed.exclude:
            excluded = sa.select(_FTS.c.rowid).where(
                _FTS_NAME.op("MATCH")(
                    sa.bindparam(
                        "fts_exclude", search_query.to_fts5_any(parsed.exclude)
                    )
                )
            )
            return [Offer.id.not_in(excluded)]
        return []

    def plan(self, db: Session, parsed: ParsedQuery) -> None:
        pass

    def newest(self, parsed: ParsedQuery) -> sa.ColumnElement[Any]:
        """Newest matches first: FTS5 walks its doclists backwards, no sorting."""
        return (_FTS.c.rowid if parsed.include else Offer.id).desc()

    def probe(self, parsed: ParsedQuery) -> list[sa.ColumnElement[bool]]:
        """The text match as a condition on offers alone (no join): an FTS5 lookup by
        rowid for each offer, which costs a doclist seek; a prefix longer than the
        prefix index (search_ddl) would merge its terms' doclists on every lookup, so
        such a query collects its matches once instead."""
        fts = sa.select(_FTS.c.rowid).where(*self.match(parsed))
        if any(
            t.prefix and len(t.words[-1]) not in search_ddl.SQLITE_PREFIX_INDEX
            for c in parsed.include
            for t in c.terms
        ):
            return [Offer.id.in_(fts)]
        return [sa.exists(fts.where(_FTS.c.rowid == Offer.id))]

    def score(self, parsed: ParsedQuery, now: datetime) -> sa.ColumnElement[float]:
        # bm25() is negative, better matches more so.
        bm25 = -sa.func.bm25(_FTS_NAME, *SQLITE_WEIGHTS)
        age = sa.func.julianday(_sqlite_time(now)) - sa.func.julianday(
            Offer.published_at
        )
        return bm25 / (1.0 + sa.func.max(age, 0.0) / RECENCY_DAYS)

    def json_values(self, column: sa.ColumnElement[Any]) -> sa.TableValuedAlias:
        """The elements of a JSON array column, as rows of ``value``."""
        return sa.func.json_each(column).table_valued("value")


class Postgres:
    """tsvector @@ tsquery on the GIN-indexed column, ts_rank() with A/B/C weights."""

    scores_in_window = False  # ts_rank() reads the vector: only the window's

    def join(self, select: sa.Select[Any], parsed: ParsedQuery) -> sa.Select[Any]:
        return select

    def match(self, parsed: ParsedQuery) -> list[sa.ColumnElement[bool]]:
        if parsed.include:
            text = search_query.to_tsquery(parsed.include)
            if parsed.exclude:
                text = f"({text}) & !({search_query.to_tsquery_any(parsed.exclude)})"
            return [_VECTOR.op("@@")(_tsquery("ts_query", text))]
        if parsed.exclude:
            excluded = search_query.to_tsquery_any(parsed.exclude)
            return [sa.not_(_VECTOR.op("@@")(_tsquery("ts_exclude", excluded)))]
        return []

    collects_all = False  # plan(): collect every match, then take the newest

    def plan(self, db: Session, parsed: ParsedQuery) -> None:
        """Plan this search's statements for its own words.

        psycopg prepares a statement run 5 times, and the generic plan of
        ``@@ to_tsquery($1)`` fits no word: ``force_custom_plan`` (for the
        transaction). And the planner prices walking the id index backwards, testing
        each offer's vector until the window is full, without the cost of reading
        each vector: right for a word in many offers, several times too slow for one
        in few. Where the planner's own estimate says the matches are few
        (``bitmap_wins``), the newest come from every match (the GIN bitmap) instead:
        ``newest`` then orders by an expression no index gives.
        """
        db.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
        self.collects_all = bool(parsed.include) and bitmap_wins(
            *_estimates(db, parsed)
        )

    def newest(self, parsed: ParsedQuery) -> sa.ColumnElement[Any]:
        return ((Offer.id + 0) if self.collects_all else Offer.id).desc()

    def probe(self, parsed: ParsedQuery) -> list[sa.ColumnElement[bool]]:
        return self.match(parsed)

    def score(self, parsed: ParsedQuery, now: datetime) -> sa.ColumnElement[float]:
        text = search_query.to_tsquery(parsed.include)
        rank = sa.func.ts_rank(_VECTOR, _tsquery("ts_rank_query", text))
        now_param = sa.bindparam("now", now, sa.DateTime(timezone=True))
        age = sa.extract("epoch", now_param - Offer.published_at) / 86400.0
        return rank / (1.0 + sa.func.greatest(age, 0.0) / RECENCY_DAYS)

    def json_values(self, column: sa.ColumnElement[Any]) -> sa.TableValuedAlias:
        # Our writers store lists only; a stray non-array must not abort a search.
        array = sa.case(
            (sa.func.json_typeof(column) == "array", column),
            else_=sa.cast(sa.literal("[]"), sa.JSON),
        )
        return sa.func.json_array_elements_text(array).table_valued("value")


def bitmap_wins(matches: float, offers: float) -> bool:
    """Whether collecting every match (GIN bitmap) beats walking the newest offers
    until WINDOW of them match, for ``matches`` of ``offers``.

    The walk reads about WINDOW * offers / matches vectors; the bitmap reads every
    match's row, not its vector, and sorts the ids: per row about half the cost
    (bench/README.md, PostgreSQL). Equal at matches = sqrt(2 * WINDOW * offers):
    45,000 of 1M offers, 14,000 of 100k.
    """
    return matches * matches <= 2 * WINDOW * offers


def _estimates(db: Session, parsed: ParsedQuery) -> tuple[float, float]:
    """The planner's estimate of the offers matching ``parsed``, and of all offers
    (from the table's statistics: no offer is read)."""
    plan = db.execute(
        sa.text("EXPLAIN (FORMAT JSON) SELECT 1 FROM offers WHERE search_vector @@ "
                "to_tsquery('simple'::regconfig, :q)"),
        {"q": search_query.to_tsquery(parsed.include)},
    ).scalar_one()  # fmt: skip
    offers = db.scalar(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = 'offers'::regclass")
    )
    return float(plan[0]["Plan"]["Plan Rows"]), max(float(offers or 0), 0.0)


def _tsquery(name: str, text: str) -> sa.ColumnElement[object]:
    return sa.func.to_tsquery(_SIMPLE, sa.bindparam(name, text, sa.Text))


def _sqlite_time(now: datetime) -> str:
    # As SQLAlchemy stores UTCDateTime on SQLite: naive UTC text.
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def engine_for(db: Session) -> Sqlite | Postgres:
    name = db.get_bind().dialect.name
    if name == "sqlite":
        return Sqlite()
    if name == "postgresql":
        return Postgres()
    raise NotImplementedError(f"no search engine for dialect {name!r}")
