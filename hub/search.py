"""Offer search: the one interface the site and API call, over two engines.

SQLite uses the FTS5 table and PostgreSQL the weighted tsvector that migration 0002
creates (hub/search_ddl.py); both index the same folded text, and hub/search_query.py
turns what a visitor typed into the same query for each; hub/search_engines.py
holds each engine's pieces. Work per request is bounded by one window of matches
(WINDOW, below). Reads only; no writes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import search_query
from hub import versions
from hub.kinds import OfferKind
from hub.kinds import OfferStatus
from hub.listings import load_offers
from hub.models import Cluster
from hub.models import Offer
from hub.places import find_place
from hub.search_engines import Narrowing
from hub.search_engines import Postgres
from hub.search_engines import Sqlite
from hub.search_engines import engine_for
from hub.search_plan import WINDOW
from hub.search_plan import Window
from hub.search_query import ParsedQuery

MAX_PER_PAGE = 100
Engine = Sqlite | Postgres
# facet_counts' default set; a query may ask for any of ALL_FACETS.
FACETS = ("kind", "cluster", "country", "language")
OFFER_FACETS = (
    "kind", "cluster", "country", "town", "language", "sector", "organisation",
    "posted",
)  # fmt: skip
JOB_FACETS = ("occupation", "kind", "country", "town", "posted")
ALL_FACETS = (*OFFER_FACETS, "occupation")
# The job exchange: job offers and job-seeking ads only (OfferQuery.kinds).
JOB_KINDS = (OfferKind.JOB_OFFER.value, OfferKind.JOB_SEEKING.value)
# "Posted within" choices, days; the facet counts each (they nest, so they overlap).
POSTED_WITHIN = (1, 7, 30)
# The query field each facet filters on (the filter a facet's own count leaves out).
_FACET_FIELDS = {
    "kind": "kind",
    "cluster": "cluster",
    "country": "country",
    "town": "town",
    "language": "language",
    "sector": "sector",
    "organisation": "organisation",
    "occupation": "occupation",
    "posted": "posted_within",
}
# Bounded work per request (issue 8; bench/README.md): one window of the WINDOW
# (hub.search_engines) newest matches (highest id: the latest harvested, an order
# both indexes give without sorting). The total is counted up to WINDOW
# (OfferPage.total_is_lower_bound beyond it); relevance ranks the window (every match
# when there are fewer), further matches follow newest first; each facet group is
# counted over its own window (OfferPage.facets_are_lower_bounds when one is full).


@dataclasses.dataclass(frozen=True)
class OfferQuery:
    """What a visitor asks for; every field has the default of a plain listing."""

    text: str = ""
    cluster: str | None = None
    page: int = 1
    per_page: int = 20
    kind: str | None = None
    country: str | None = None
    language: str | None = None
    town: str | None = None
    sector: str | None = None  # a NACE code of Offer.sectors
    occupation: str | None = None  # an ESCO URI of Offer.occupations
    organisation: int | None = None  # an Organisation id
    posted_within: int | None = None  # days
    kinds: tuple[str, ...] = ()  # a scope, not a filter: only these kinds at all
    # the visitor's language: one version per group of language versions, theirs
    # first (hub.versions); None: every version
    view_language: str | None = None
    sort: Literal["relevance", "date"] = "relevance"
    status: str | None = OfferStatus.ACTIVE  # None: every status
    # also fill OfferPage.facets (see facet_counts): True for FACETS, or facet names
    facets: bool | tuple[str, ...] = False


@dataclasses.dataclass(frozen=True)
class OfferPage:
    offers: list[Offer]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[tuple[str, int]]] = dataclasses.field(default_factory=dict)
    # total is WINDOW and more offers match ("more than 1,000")
    total_is_lower_bound: bool = False
    # some facet counts were taken over a sample of the matches: each is a lower bound
    facets_are_lower_bounds: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_offers(
    db: Session, query: OfferQuery, now: datetime | None = None
) -> OfferPage:
    """One page of the offers matching ``query``, best first (or newest first).

    Args:
        db: a session on SQLite or PostgreSQL with migration 0002 applied.
        query: the visitor's query; any ``text`` is accepted, none raises.
        now: the clock of the recency boost (tests pass one).
    """
    now = now or datetime.now(UTC)
    parsed = search_query.parse(query.text)
    engine = engine_for(db)
    engine.plan(db, parsed)
    per_page = min(max(1, query.per_page), MAX_PER_PAGE)
    page = max(1, query.page)
    narrowing = index_filters(query)
    match = engine.match(parsed, narrowing)
    filters = offer_filters(query, engine, now)
    matched = engine.join(sa.select(Offer.id), parsed).where(*filters, *match)
    offset = (page - 1) * per_page
    facets: dict[str, list[tuple[str, int]]] = {}
    sampled = False
    if query.sort == "relevance" and parsed.include:
        # One statement ranks the window and counts the facets it shares.
        page_of = (offset, offset + per_page)
        facets, sampled, ids, total = _windows(db, query, now, engine, page_of)
        if len(ids) < per_page and total > WINDOW:
            order = engine.window(db, parsed, filters, narrowing).order
            rest = matched.order_by(order)
            rest = rest.offset(max(offset, total)).limit(per_page - len(ids))
            ids += db.scalars(rest)
    elif parsed.include:
        # The window is the WINDOW + 1 newest matches: its size is the count, read
        # newest segments first (as the relevance sort reads it), with the facets
        # that share it. Counted over the whole table, a frequent word read its
        # rows with their search vectors (PostgreSQL, 1M offers, "iso" by date:
        # 29-44 ms).
        facets, sampled, _, total = _windows(db, query, now, engine, counted=True)
        if total > WINDOW:
            # Many matches: walk the date index and stop early, probing each offer.
            probe = engine.probe(parsed, narrowing)
            matched = sa.select(Offer.id).where(*probe, *filters)
        ids = _newest(db, matched, offset, per_page)
    else:  # no word to look for (none, or only words to exclude): browsing
        counting = sa.select(sa.func.count()).select_from(
            matched.limit(WINDOW + 1).subquery()
        )
        total = db.scalar(counting) or 0
        ids = _newest(db, matched, offset, per_page)
        if query.facets:
            facets, sampled, _, _ = _windows(db, query, now, engine)
    return OfferPage(
        load_offers(db, ids),
        min(total, WINDOW),
        page,
        per_page,
        facets,
        total_is_lower_bound=total > WINDOW,
        facets_are_lower_bounds=sampled,
    )


def _newest(
    db: Session, matched: sa.Select[Any], offset: int, per_page: int
) -> list[int]:
    """One page of the ``matched`` ids, newest first: ids only (SQLite reads them
    from a covering index, the sorter holds no wide rows); the offers are loaded
    after."""
    by_date = matched.order_by(Offer.published_at.desc(), Offer.id.desc())
    return list(db.scalars(by_date.offset(offset).limit(per_page)))


def facet_counts(
    db: Session, query: OfferQuery, now: datetime | None = None
) -> dict[str, list[tuple[str, int]]]:
    """Counts per facet value, computed in SQL: for the facets ``query.facets`` names
    (FACETS when it is just True).

    Each facet is counted under every filter of ``query`` but its own, so a visitor
    who picked one kind still sees how many offers the other kinds hold. Most common
    value first (``posted``: shortest period first); offers without a value are not
    counted. Values are strings: a cluster's slug, an organisation's id, an ESCO URI,
    a NACE code, a town's gazetteer key (its names in every language are one town),
    the days of ``posted``. Beyond WINDOW matches a facet is counted over the
    WINDOW newest ones (see OfferPage.facets_are_lower_bounds).
    """
    query = dataclasses.replace(query, facets=query.facets or True)
    engine = engine_for(db)
    engine.plan(db, search_query.parse(query.text))
    return _windows(db, query, now or datetime.now(UTC), engine)[0]


Positions = tuple[int, int]  # a page of a ranked window: [start, stop), from 0


def _windows(
    db: Session,
    query: OfferQuery,
    now: datetime,
    engine: Engine,
    page: Positions | None = None,
    *,
    counted: bool = False,
) -> tuple[dict[str, list[tuple[str, int]]], bool, list[int], int]:
    """facet_counts (when ``query.facets``), whether any was counted over a full
    window, and (with a ``page``) the ids at those positions of ``query``'s window
    best first, and (with a ``page`` or ``counted``) the window's size."""
    names = _facet_names(query) if query.facets else ()
    parsed = search_query.parse(query.text)
    # Facets that share the same filters share one window (one text match).
    groups: dict[tuple[str, ...], list[str]] = {(): []} if page or counted else {}
    for facet in names:
        field = _FACET_FIELDS[facet]
        dropped = (field,) if getattr(query, field) else ()
        groups.setdefault(dropped, []).append(facet)
    result: dict[str, list[tuple[str, int]]] = {f: [] for f in names}
    sampled = False
    ranked: list[int] = []
    ranked_size = 0
    for dropped, facets in groups.items():
        unfiltered = dataclasses.replace(query, **{f: None for f in dropped})
        ranks = None if dropped else page  # only the query's own window is ranked
        size, counts, ids = _window(db, engine, parsed, unfiltered, now, facets, ranks)
        sampled = sampled or (size > WINDOW and bool(facets))
        result.update(counts)
        if not dropped:
            ranked, ranked_size = ids, size
    result = {f: _merge_towns(v) if f == "town" else v for f, v in result.items()}
    for facet, values in result.items():
        if facet == "posted":
            values.sort(key=lambda vc: int(vc[0]))
        else:
            values.sort(key=lambda vc: (-vc[1], vc[0]))
    return result, sampled, ranked, ranked_size


def _window(
    db: Session,
    engine: Engine,
    parsed: ParsedQuery,
    query: OfferQuery,
    now: datetime,
    facets: list[str],
    rank: Positions | None,
) -> tuple[int, dict[str, list[tuple[str, int]]], list[int]]:
    """One statement over the window (the WINDOW + 1 newest matches of ``query``):
    its size, the counts of ``facets`` in it and the ids at the ``rank`` positions
    of the window best first."""
    names = {c for f in facets for c in _FACET_COLUMNS[f]}
    names |= {"published_at"} if rank else set()
    columns: list[sa.ColumnElement[Any]] = [Offer.id]
    columns += [getattr(Offer, c) for c in sorted(names)]
    if rank:
        columns += engine.rank_columns(parsed, now)
    filters, narrowing = offer_filters(query, engine, now), index_filters(query)
    select = engine.join(sa.select(*columns), parsed)
    match = engine.match(parsed, narrowing)
    plan = engine.window(db, parsed, filters, narrowing)
    # The floor before the text match: cheaper conditions come first. A read
    # above a floor tests the filters on the rows it finds: ANDing an index of
    # a filter over the whole table (PostgreSQL would, for a kind: 250,000
    # ids at a million offers) costs more than the rows it spares.
    tested = [sa.and_(*filters).is_(sa.true())] if plan.span and filters else []
    where = tested or filters
    reads = [select.where(*where, *ids, *match) for ids in plan.branches()]
    with engine.reading(db, plan):
        return _read_window(db, engine, parsed, now, facets, rank, reads, plan)


def _read_window(
    db: Session,
    engine: Engine,
    parsed: ParsedQuery,
    now: datetime,
    facets: list[str],
    rank: Positions | None,
    reads: list[sa.Select[Any]],
    plan: Window,
) -> tuple[int, dict[str, list[tuple[str, int]]], list[int]]:
    if len(reads) == 1:
        newest = reads[0].order_by(plan.order)
    else:
        # Branches of disjoint id ranges, newest first, each sorted: in that order
        # they are the matches newest first. PostgreSQL's Append runs them in turn
        # (a search starts no parallel workers, Postgres.plan), so the LIMIT stops
        # it at the branch that fills the window; the lower ones never run.
        ordered = [read.order_by(plan.order) for read in reads]  # in parentheses
        newest = sa.select(sa.union_all(*ordered).subquery("matches"))
    window = newest.limit(WINDOW + 1).cte("window").prefix_with("MATERIALIZED")
    parts = [p for f in facets for p in _facet_selects(window, f, engine, now)]
    empty = sa.literal("", sa.String)
    parts.append(
        sa.select(sa.literal(_SIZE, sa.String), empty, sa.func.count()).select_from(
            window
        )
    )
    if rank:
        # Ranks the window, returns one page of it.
        score = engine.score(window, parsed, now)
        order = (score.desc(), window.c.published_at.desc(), window.c.id.desc())
        position = sa.func.row_number().over(order_by=order).label("position")
        ranked = sa.select(window.c.id, position).subquery()
        parts.append(
            sa.select(
                sa.literal(_RANK, sa.String),
                sa.cast(ranked.c.id, sa.String),
                ranked.c.position,
            ).where(ranked.c.position > rank[0], ranked.c.position <= rank[1])
        )
    size, ranked = 0, []
    counts: dict[str, list[tuple[str, int]]] = {f: [] for f in facets}
    for facet, value, count in db.execute(sa.union_all(*parts)):
        if facet == _SIZE:
            size = int(count)
        elif facet == _RANK:
            ranked.append((int(count), int(value)))
        elif count:
            counts[facet].append((str(value), int(count)))
    return size, counts, [i for _, i in sorted(ranked)]


_RANK = "#rank"  # not a facet name: a window row's id and its place by relevance
_SIZE = "#matched"  # not a facet name: the row counting a group's matches


def _facet_names(query: OfferQuery) -> tuple[str, ...]:
    if isinstance(query.facets, tuple):
        unknown = set(query.facets) - set(ALL_FACETS)
        if unknown:
            raise ValueError(f"unknown facets: {sorted(unknown)}")
        return query.facets
    return FACETS


# The offers columns each facet reads.
_FACET_COLUMNS = {
    "kind": ("kind",),
    "cluster": ("cluster_id",),
    "country": ("country",),
    "town": ("town",),
    "language": ("language",),
    "sector": ("sectors",),
    "organisation": ("organisation_id",),
    "occupation": ("occupations",),
    "posted": ("published_at",),
}
_JSON_FACETS = {"sector": "sectors", "occupation": "occupations"}


def _facet_selects(
    matched: sa.CTE, facet: str, engine: Engine, now: datetime
) -> list[sa.Select[Any]]:
    """The SELECTs of one facet's (facet, value, count) rows over ``matched``."""
    label = sa.literal(facet, sa.String)
    count = sa.func.count()
    if facet == "cluster":
        return [
            sa.select(label, Cluster.slug, count)
            .select_from(matched.join(Cluster, Cluster.id == matched.c.cluster_id))
            .group_by(Cluster.slug)
        ]
    if facet == "posted":
        return [
            sa.select(label, sa.literal(str(days), sa.String), count)
            .select_from(matched)
            .where(matched.c.published_at >= now - timedelta(days=days))
            for days in POSTED_WITHIN
        ]
    if facet in _JSON_FACETS:
        values = engine.json_values(matched.c[_JSON_FACETS[facet]])
        return [
            sa.select(label, values.c.value, sa.func.count(matched.c.id.distinct()))
            .select_from(matched.join(values, sa.true()))
            .group_by(values.c.value)
        ]
    column = matched.c["organisation_id" if facet == "organisation" else facet]
    return [
        sa.select(label, sa.cast(column, sa.String), count)
        .where(column.is_not(None))
        .group_by(column)
    ]


def _merge_towns(values: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """One entry per place: an offer names its town in one of its languages."""
    merged: dict[str, int] = {}
    for town, count in values:
        place = find_place(town)
        key = place.key if place is not None else town
        merged[key] = merged.get(key, 0) + count
    return list(merged.items())


def offer_filters(
    query: OfferQuery, engine: Engine, now: datetime
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.status:
        where.append(Offer.status == query.status)
    if query.view_language:
        where.append(versions.shown_in(query.view_language))
    if query.kinds:
        where.append(Offer.kind.in_([_clean(k) for k in query.kinds]))
    if query.cluster:
        where.append(
            Offer.cluster_id
            == sa.select(Cluster.id)
            .where(Cluster.slug == _clean(query.cluster))
            .scalar_subquery()
        )
    for name in ("kind", "country", "language"):
        value = getattr(query, name)
        if value:
            where.append(getattr(Offer, name) == _clean(value))
    if query.organisation is not None:
        where.append(Offer.organisation_id == query.organisation)
    if query.posted_within:
        where.append(Offer.published_at >= now - timedelta(days=query.posted_within))
    for name, column in _JSON_FACETS.items():
        value = getattr(query, name)
        if value:
            values = engine.json_values(getattr(Offer, column))
            where.append(
                sa.exists(
                    sa.select(sa.literal(1))
                    .select_from(values)
                    .where(values.c.value == _clean(value))
                )
            )
    if query.town:
        # DESIGN.md: a town is one place in every language; offers.town may hold any
        # of its names (or its key, once normalised).
        town = _clean(query.town)
        place = find_place(town)
        names = {town}
        if place is not None:
            names |= {place.key, *place.search_names()}
        where.append(Offer.town.in_(sorted(names)))
    return where


def index_filters(query: OfferQuery) -> Narrowing:
    """The filters of ``query`` (each one of offer_filters' conditions too) that a
    text index may answer with the words (hub.search_engines.Narrowing)."""
    pairs: list[tuple[str, tuple[str, ...]]] = []
    if query.kinds:
        pairs.append(("kind", tuple(_clean(k) for k in query.kinds)))
    for name in ("kind", "language", "country"):
        value = getattr(query, name)
        if value:
            pairs.append((name, (_clean(value),)))
    return tuple(pairs)


def _clean(value: str) -> str:
    # Filters come from URLs; PostgreSQL refuses NUL in text, SQLite stores it.
    return value.replace("\x00", "")
