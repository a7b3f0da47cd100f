"""The two engines of hub.search: SQLite FTS5 and PostgreSQL full-text search.

Each builds the same pieces of a query (text match, newest-first order, a per-offer
probe, the relevance score) for hub/search.py; the indexes are hub/search_ddl.py's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from hub import search_ddl
from hub import search_plan
from hub import search_query
from hub.models import Offer
from hub.search_plan import Window
from hub.search_query import ParsedQuery

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


# Filters the text index may answer with the words: pairs of an offers column and the
# values it may hold (hub.search.index_filters). PostgreSQL's vector holds them
# (hub.search_ddl.PG_FILTER_LEXEMES); FTS5 does not.
Narrowing = tuple[tuple[str, tuple[str, ...]], ...]


class Sqlite:
    """FTS5: MATCH on offers_fts, bm25() with column weights."""

    def join(self, select: sa.Select[Any], parsed: ParsedQuery) -> sa.Select[Any]:
        if not parsed.include:
            return select
        return select.join(_FTS, _FTS.c.rowid == Offer.id)

    def match(
        self, parsed: ParsedQuery, narrowing: Narrowing = ()
    ) -> list[sa.ColumnElement[bool]]:
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

    def window(
        self,
        db: Session,
        parsed: ParsedQuery,
        filters: list[sa.ColumnElement[bool]],
        narrowing: Narrowing = (),
    ) -> Window:
        """Newest matches first: FTS5 walks its doclists backwards, no sorting."""
        return Window((_FTS.c.rowid if parsed.include else Offer.id).desc())

    def reading(
        self, db: Session, window: Window
    ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def probe(
        self, parsed: ParsedQuery, narrowing: Narrowing = ()
    ) -> list[sa.ColumnElement[bool]]:
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

    def rank_columns(
        self, parsed: ParsedQuery, now: datetime
    ) -> list[sa.ColumnElement[Any]]:
        """What a window to be ranked selects besides its ids: bm25() needs the
        MATCH that found the row, so the score itself."""
        # bm25() is negative, better matches more so.
        bm25 = -sa.func.bm25(_FTS_NAME, *SQLITE_WEIGHTS)
        age = sa.func.julianday(_sqlite_time(now)) - sa.func.julianday(
            Offer.published_at
        )
        return [(bm25 / (1.0 + sa.func.max(age, 0.0) / RECENCY_DAYS)).label("score")]

    def score(
        self, window: sa.CTE, parsed: ParsedQuery, now: datetime
    ) -> sa.ColumnElement[float]:
        return window.c.score

    def json_values(self, column: sa.ColumnElement[Any]) -> sa.TableValuedAlias:
        """The elements of a JSON array column, as rows of ``value``."""
        return sa.func.json_each(column).table_valued("value")


class Postgres:
    """tsvector @@ tsquery on the GIN-indexed column, ts_rank() with A/B/C weights."""

    def join(self, select: sa.Select[Any], parsed: ParsedQuery) -> sa.Select[Any]:
        return select

    def match(
        self, parsed: ParsedQuery, narrowing: Narrowing = ()
    ) -> list[sa.ColumnElement[bool]]:
        """The text match, with the lexemes of ``narrowing``'s filters: the GIN
        index then reads only the rows that pass them too (the filters' own
        conditions still hold). With a phrase or an exclusion, GIN only finds
        candidates and each one's vector must be read: then the index is asked for
        the words alone and the whole query is tested as a plain function, after
        cheaper conditions (hub.search puts a window's floor first), not before them
        as an index recheck would."""
        lexemes = search_ddl.pg_filter_tsquery(narrowing)
        if parsed.include:
            if not search_plan.rechecked(parsed):
                return [_matches(parsed, lexemes)]
            words = search_query.to_tsquery_words_of(parsed.include)
            full = _tsquery("ts_full_query", _full_tsquery(parsed))
            return [
                _matching("ts_query", words, lexemes),
                sa.func.ts_match_vq(_VECTOR, full),
            ]
        if parsed.exclude:
            excluded = search_query.to_tsquery_any(parsed.exclude)
            return [sa.not_(_matching("ts_exclude", excluded))]
        return []

    def plan(self, db: Session, parsed: ParsedQuery) -> None:
        """psycopg prepares a statement run 5 times, and the generic plan of
        ``@@ to_tsquery($1)`` fits no word: each search is planned for its own
        (``force_custom_plan``, for the transaction). Nor does a search start
        parallel workers: a read of a few segments (hub.search_segments) took
        48 ms with them, 15 ms without, at a million offers on 2 cores; and a
        read's branches must run in their order (hub.search_plan), as only a
        plain Append runs them. Nor is
        it compiled to machine code (JIT): the plans ``estimate`` explains cost
        more than ``jit_above_cost`` at a million offers, and compiling them
        took ~1 ms per branch, EXPLAIN or not (bench/README.md)."""
        db.execute(
            sa.text(
                "SET LOCAL plan_cache_mode = force_custom_plan; "
                "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
            )
        )

    def window(
        self,
        db: Session,
        parsed: ParsedQuery,
        filters: list[sa.ColumnElement[bool]],
        narrowing: Narrowing = (),
    ) -> Window:
        """Walk the id index, collect the GIN bitmap's matches, or collect those
        above a floor: whichever hub.search_plan prices lowest for this query. The
        planner itself prices walking without the cost of reading each vector:
        right for a word in many offers, several times too slow for one in few."""
        if not parsed.include:
            return Window(Offer.id.desc())
        match = _matches(parsed)
        narrowed = [getattr(Offer, c).in_(values) for c, values in narrowing]
        est = search_plan.estimate(db, parsed, filters, match, _matching, narrowed)
        return search_plan.window(db, est, Offer.id.desc(), (Offer.id + 0).desc())

    @contextlib.contextmanager
    def reading(self, db: Session, window: Window) -> Iterator[None]:
        """Around the read of ``window``: one that collects through the GIN bitmap
        never walks an index. The planner, which prices a vector test at a
        fraction of its cost, would walk the id index above a floor testing every
        offer's vector, where ANDing the bitmaps reads only the matches."""
        if not window.collects:
            yield
            return
        db.execute(sa.text("SET LOCAL enable_indexscan = off"))
        yield
        db.execute(sa.text("SET LOCAL enable_indexscan TO DEFAULT"))

    def probe(
        self, parsed: ParsedQuery, narrowing: Narrowing = ()
    ) -> list[sa.ColumnElement[bool]]:
        return self.match(parsed, narrowing)

    def rank_columns(
        self, parsed: ParsedQuery, now: datetime
    ) -> list[sa.ColumnElement[Any]]:
        """What a window to be ranked selects besides its ids: the vectors, for
        ts_rank() to read once the window is cut (not for every match)."""
        return [_VECTOR.label("vector")]

    def score(
        self, window: sa.CTE, parsed: ParsedQuery, now: datetime
    ) -> sa.ColumnElement[float]:
        text = search_query.to_tsquery(parsed.include)
        rank = sa.func.ts_rank(window.c.vector, _tsquery("ts_rank_query", text))
        now_param = sa.bindparam("now", now, sa.DateTime(timezone=True))
        age = sa.extract("epoch", now_param - window.c.published_at) / 86400.0
        return rank / (1.0 + sa.func.greatest(age, 0.0) / RECENCY_DAYS)

    def json_values(self, column: sa.ColumnElement[Any]) -> sa.TableValuedAlias:
        # Our writers store lists only; a stray non-array must not abort a search.
        array = sa.case(
            (sa.func.json_typeof(column) == "array", column),
            else_=sa.cast(sa.literal("[]"), sa.JSON),
        )
        return sa.func.json_array_elements_text(array).table_valued("value")


def _matches(parsed: ParsedQuery, lexemes: str | None = None) -> sa.ColumnElement[bool]:
    """``parsed``'s whole text match (and the filter ``lexemes``) as one indexed
    condition."""
    return _matching("ts_query", _full_tsquery(parsed), lexemes)


def _matching(
    name: str, text: str, lexemes: str | None = None
) -> sa.ColumnElement[bool]:
    """The vector @@ the tsquery ``text`` (bound as ``name``), and the filter
    ``lexemes`` (a tsquery's text) when given: what the GIN index answers."""
    query = _tsquery(name, text)
    if lexemes:
        # Cast, not to_tsquery(): the parser would split '~k:job-offer' into words.
        filters = sa.cast(sa.bindparam(f"{name}_filters", lexemes, sa.Text), TSQUERY)
        query = query.op("&&")(filters)
    return _VECTOR.op("@@")(query)


def _full_tsquery(parsed: ParsedQuery) -> str:
    text = search_query.to_tsquery(parsed.include)
    if parsed.exclude:
        text = f"({text}) & !({search_query.to_tsquery_any(parsed.exclude)})"
    return text


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
