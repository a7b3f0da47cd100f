"""How PostgreSQL reads a search's window: the newest matches (hub.search).

Three ways to the WINDOW + 1 newest offers matching a text query, with very
different costs at a million offers (bench/README.md, PostgreSQL):

- **walk** the id index backwards, testing each offer's vector until the window is
  full: cheap for a word in many offers, it reads ``offers / matches`` vectors per
  match found;
- **collect** every match through the GIN bitmap, then keep the newest: cheap for a
  word in few offers, it reads the heap row of every match;
- **collect above a floor**: the GIN bitmap ANDed with a range of the id index, so
  only the matches among the newest ``span`` offers are read. Right for a word in a
  few percent of the offers, where both others read tens of thousands of rows.

``choose`` prices the three from the planner's statistics (``estimate``: one
EXPLAIN, nothing is read). The floor is a guess, so a read above a floor is one
statement of branches newest first: the ids above the floor, then every id below
it. Each branch is sorted newest first and PostgreSQL's Append runs a branch only
when the ones before it ran out, so the LIMIT of a window stops the read where the
window is full: a floor set too high costs the branch below it, never a second
statement; one set too low costs the planning of branches never run.

Where hub.search_segments has indexed the newest offers in segments of ids, a floor
lies on a segment boundary and each segment above it is read through its own GIN
index (a branch of its own): the GIN work of a read then grows with the segments it
runs, not with the table, and no id range is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

from hub import search_segments
from hub.models import Offer
from hub.search_query import ParsedQuery
from hub.search_query import to_tsquery_words

# The newest matches one search reads at most (hub/search.py).
WINDOW = 1_000

# What reading one offer costs PostgreSQL, µs, measured at 1M offers on a 2-core
# machine (bench/README.md, PostgreSQL): walking the id index and testing the offer's
# vector; reading a row the GIN bitmap points to from the heap; one match of one word
# in the GIN bitmap; one id in the bitmap of an id range. (Measured with the vectors
# in TOAST. Kept in the row since migration 0012, a vector alone tests in ~1.5 µs and
# a bitmap row reads in ~3.7, but prices set to those chose worse at 1M: all queries
# p50 / p95 45.8 / 89.0 ms against 40.0 / 88.6 with these, filtered 80 / 111 against
# 77 / 99.)
WALK_US, HEAP_US, GIN_US, ID_US = 8.0, 6.5, 0.5, 0.06
# A floor is set this many (estimated) windows below the newest offer.
FLOOR_MARGIN = 2.0
# What one more branch (a segment) costs a read, µs: building it, planning and
# starting it, run or not (measured at 1M: 0.7-1 ms each, Python ~0.3 of it; priced
# lower, as a branch planned but never run spares a read below the floor).
BRANCH_US = 500.0


@dataclasses.dataclass(frozen=True)
class Estimates:
    """The planner's estimates for one query, in offers.

    The planner takes a query's words and filters as independent (``low``), which
    is often far too few for words typed together; taking the words as always found
    together gives the most there can be (``high``)."""

    offers: float
    entries: float  # GIN entries read: each word's matches, summed
    low: float  # offers matching text and filters, all independent (the planner's)
    most: float  # offers matching the text at most: as many as its rarest clause
    # a phrase or an exclusion: GIN finds candidates, each row's vector says
    rechecked: bool = False
    # the spans, in offers, of the reads that end on a segment boundary
    # (hub.search_segments), shortest first; none: reads need an id range
    segments: tuple[float, ...] = ()
    # the share of offers that pass the filters (the planner's estimate)
    filtered: float = 1.0
    # the share that pass the filters the GIN index answers with the words
    # (hub.search_ddl.PG_FILTER_LEXEMES): a read through it fetches only those rows
    narrowed: float = 1.0

    @property
    def high(self) -> float:
        """The most offers matching text and filters: the text's most, filtered as
        the planner expects (a filter is rarely bound to the words typed)."""
        return max(self.low, self.most * self.filtered)

    def aligned(self, span: float) -> float:
        """The shortest read ending on a segment boundary that reaches ``span``
        offers down (``span`` itself without segments, or below them)."""
        return next((s for s in self.segments if s >= span), span)

    def guesses(self, count: int = 5) -> list[float]:
        """``count`` numbers of matches from ``low`` to ``high``, evenly spaced on a
        log scale: what ``choose`` averages its prices over."""
        ratio = self.high / self.low
        return [self.low * ratio ** (i / (count - 1)) for i in range(count)]


@dataclasses.dataclass(frozen=True)
class Choice:
    collect: bool  # through the GIN bitmap (else walk the id index)
    span: float | None = None  # only among the newest ``span`` offers, first


def choose(est: Estimates) -> Choice:
    """The way (module docstring) with the lowest price averaged over
    ``est.guesses()``: walking, collecting every match, or collecting above a
    floor set for one of the guesses (below a floor set too high, a read goes on
    through every match left, as ``Window.branches`` read it)."""
    if est.offers <= 0 or est.low <= 0:
        return Choice(collect=True)
    guesses = est.guesses()

    def walked(matched: float) -> float:  # offers walked to find a window
        return min(est.offers, (WINDOW + 1) * est.offers / matched)

    # a row read from the heap, and its vector too when GIN only finds candidates;
    # per offer holding the words, only those that pass the filters GIN answers
    row_us = (HEAP_US + (WALK_US if est.rechecked else 0.0)) * est.narrowed
    # The GIN work of a read without a floor: the words' entries, and those of the
    # filters the index answers with them (taken as many as the offers passing).
    filtering = est.narrowed * est.offers if est.narrowed < 1.0 else 0.0
    collect = (est.entries + filtering) * GIN_US

    def above(span: float, found: float) -> float:  # the newest ``span`` offers
        rows = span * row_us * found / est.offers
        if not est.segments:  # the whole GIN bitmap, ANDed with an id range
            return collect + span * ID_US + rows
        return collect * span / est.offers + rows

    def price(choice: Choice, matched: float) -> float:
        found = min(est.most, matched / est.filtered)  # offers holding the text
        if not choice.collect:
            return walked(matched) * WALK_US
        if choice.span is None:
            return collect + found * row_us
        span = choice.span
        planned = (2 + sum(s < span for s in est.segments)) * BRANCH_US
        if walked(matched) <= span:  # the window is full above the floor: the
            # branches run down to its segment (all of a branch without one)
            reached = est.aligned(walked(matched)) if est.segments else span
            return planned + above(reached, found)
        below = collect + (est.offers - span) * row_us * found / est.offers
        return planned + above(span, found) + below

    choices = [Choice(collect=False), Choice(collect=True)]
    if est.segments:
        choices += [Choice(True, s) for s in est.segments]
    else:
        choices += [Choice(True, FLOOR_MARGIN * walked(g)) for g in guesses]
    return min(choices, key=lambda c: sum(price(c, g) for g in guesses))


@dataclasses.dataclass(frozen=True)
class Window:
    """How one read takes a window: its newest-first ``order`` and, with a ``span``,
    only the offers with ids in (``newest`` - span, ``newest``], through the
    indexes of the ``segments`` there (hub.search_segments: (lo, hi] id ranges)."""

    order: sa.ColumnElement[Any]
    span: float = 0.0
    newest: int = 0
    oldest: int = 0
    collects: bool = False  # through the GIN bitmap, never walking an index
    segments: tuple[tuple[int, int], ...] = ()

    def branches(self) -> list[list[sa.ColumnElement[bool]]]:
        """The id conditions of each branch of the read, newest first: one for the
        ids above the last segment indexed, one per indexed segment above the
        floor, one for each stretch of ids between them, one for every id below
        the floor (read only if those above it hold fewer than a window); a single
        branch without a condition when the read has no floor."""
        if not self.span:
            return [[]]
        floor = at = self.newest - int(self.span)
        ranges: list[tuple[int, int | None]] = []
        for lo, hi in self.segments:
            if hi <= at:
                continue
            if lo >= self.newest:
                break
            if lo > at:  # ids no segment index holds
                ranges.append((at, lo))
            ranges.append((max(lo, at), hi))
            at = hi
        if at < self.newest or not ranges:
            ranges.append((at, None))
        below = [[Offer.id <= _integer(floor)]] if floor >= self.oldest else []
        return [
            [Offer.id > _integer(lo)] + ([Offer.id <= _integer(hi)] if hi else [])
            for lo, hi in reversed(ranges)
        ] + below

    def aligned(self, span: float) -> float:
        """``span`` widened to end on the boundary of the segment it ends in."""
        floor = self.newest - int(span)
        for lo, hi in self.segments:
            if lo <= floor < hi:
                return float(self.newest - lo)
        return span


def _integer(value: int) -> sa.ColumnElement[int]:
    """An id bound as a parameter cast to integer, the type of the indexes'
    predicates: psycopg types a small int smallint, and the planner would not
    prove a segment's predicate from ``id > $1::smallint``. (A parameter, not the
    number written out: the statement then compiles once, from SQLAlchemy's cache.)"""
    return sa.cast(sa.bindparam(None, int(value), sa.Integer), sa.Integer)


def window(
    db: Session, est: Estimates, order: sa.ColumnElement[Any], collected: Any
) -> Window:
    """The Window ``choose`` picks for ``est``: ``order`` walks the id index,
    ``collected`` orders what the GIN bitmap collected."""
    oldest, newest, segments = search_segments.layout(db)
    if oldest is None or newest is None:
        return Window(order)
    per_offer = (newest - oldest + 1) / max(est.offers, 1.0)  # ids per offer
    # Reads that end on a segment boundary: from the newest offer's segment down,
    # to a gap in the indexed segments or to the oldest offer's segment (a read of
    # every segment and nothing below).
    spans: list[float] = []
    below = newest
    for lo, hi in reversed(segments):
        if lo >= newest:
            continue  # ahead of the newest offer
        if hi < below:
            break
        spans.append((newest - lo) / per_offer)
        below = lo
        if lo < oldest:  # the segment of the oldest offer: a read of every one
            break
    est = dataclasses.replace(est, segments=tuple(spans))
    choice = choose(est)
    if not choice.collect:
        return Window(order)
    whole = Window(collected, collects=True)
    if choice.span is None:
        return whole
    read = Window(collected, 0.0, newest, oldest, True, segments if spans else ())
    span = read.aligned(choice.span * per_offer)
    if newest - span <= oldest and not spans:
        return whole
    return dataclasses.replace(read, span=span)


def estimate(
    db: Session,
    parsed: ParsedQuery,
    filters: list[sa.ColumnElement[bool]],
    match: sa.ColumnElement[bool],
    matching: Callable[[str, str], sa.ColumnElement[bool]],
    narrowing: list[sa.ColumnElement[bool]] | None = None,
) -> Estimates:
    """The planner's estimates for ``match`` (``parsed``'s text) under ``filters``,
    for each of its words (``matching(name, tsquery text)``: the engine's
    condition) and for the filters the index answers with the words
    (``narrowing``): one EXPLAIN of a UNION ALL with a branch for each."""
    clauses = [
        [to_tsquery_words(term) for term in clause.terms] for clause in parsed.include
    ]
    words = sorted({w for clause in clauses for term in clause for w in term})

    def offers(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        return sa.select(sa.literal(1)).select_from(Offer).where(*where)

    branches = [offers(), offers(*filters), offers(*filters, match)]
    branches += [offers(*narrowing)] if narrowing else []
    for index, word in enumerate(words):
        branches.append(offers(matching(f"word_{index}", word)))
    total, passing, low, *rows = _planned_rows(db, sa.union_all(*branches))
    narrowed = rows.pop(0) if narrowing else total
    found = dict(zip(words, rows, strict=True))
    most = min(
        min(total, sum(min(found[w] for w in term) for term in clause))
        for clause in clauses
    )

    def share(rows: float) -> float:
        return min(1.0, rows / total) if total > 0 else 1.0

    return Estimates(
        total,
        sum(found.values()),
        low,
        most,
        rechecked(parsed),
        filtered=share(passing),
        narrowed=share(narrowed),
    )


def rechecked(parsed: ParsedQuery) -> bool:
    """Whether GIN only finds candidates for ``parsed``, each to be tested by its
    vector: a phrase (positions, weights) or an exclusion."""
    return bool(parsed.exclude) or any(
        len(t.words) > 1 for c in parsed.include for t in c.terms
    )


def _planned_rows(db: Session, union: sa.CompoundSelect) -> list[float]:
    """The planner's estimate of the rows of each branch of ``union``."""
    plan = db.execute(Explain(union)).scalar_one()
    return [float(branch["Plan Rows"]) for branch in plan[0]["Plan"]["Plans"]]


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement (PostgreSQL), compiled through
    SQLAlchemy's statement cache like any query: a search's EXPLAIN compiled anew
    each time was ~5 ms of Python (bench/README.md)."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    sql = compiler.process(element.statement, **kw)
    compiler._result_columns = []  # the plan's one JSON column, not the SELECT's
    return f"EXPLAIN (FORMAT JSON) {sql}"
