"""Offer search: the one interface the site and API call, over two engines.

SQLite uses the FTS5 table and PostgreSQL the weighted tsvector that migration 0002
creates (hub/search_ddl.py); both index the same folded text, and hub/search_query.py
turns what a visitor typed into the same query for each. Reads only; no writes.
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
from sqlalchemy.orm import joinedload

from hub import search_query
from hub.kinds import OfferKind
from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import Offer
from hub.places import find_place
from hub.search_query import ParsedQuery

MAX_PER_PAGE = 100
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
# Ranking (issue 8): title above categories above body...
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)  # bm25() column weights: title, categories, body
# ...and recent offers boosted: the text score is divided by 1 + age / RECENCY_DAYS,
# so an offer of that age needs twice the text score of a new one.
RECENCY_DAYS = 90.0

_FTS = sa.table("offers_fts", sa.column("rowid"))
_FTS_NAME = sa.literal_column("offers_fts")
_VECTOR = sa.literal_column("offers.search_vector")
_SIMPLE = sa.literal_column("'simple'::regconfig")


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
    engine = _engine(db)
    per_page = min(max(1, query.per_page), MAX_PER_PAGE)
    page = max(1, query.page)
    where = [*engine.match(parsed), *_filters(query, engine, now)]
    base = engine.join(sa.select(sa.func.count()).select_from(Offer), parsed)
    total = db.scalar(base.where(*where)) or 0
    order: list[sa.ColumnElement[object]] = []
    if query.sort == "relevance" and parsed.include:
        order.append(engine.score(parsed, now).desc())
    order += [Offer.published_at.desc(), Offer.id.desc()]
    # Two steps: rank ids (SQLite reads them from a covering index, the sorter holds
    # no wide rows), then load one page of offers.
    ids = list(
        db.scalars(
            engine.join(sa.select(Offer.id), parsed)
            .where(*where)
            .order_by(*order)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    rows = {
        o.id: o
        for o in db.scalars(
            sa.select(Offer)
            .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
            .where(Offer.id.in_(ids))
        )
    }
    offers = [rows[i] for i in ids if i in rows]
    facets = facet_counts(db, query, now) if query.facets else {}
    return OfferPage(offers, total, page, per_page, facets)


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
    the days of ``posted``.
    """
    now = now or datetime.now(UTC)
    names = _facet_names(query)
    parsed = search_query.parse(query.text)
    engine = _engine(db)
    # Facets that share the same filters share one query (one text match).
    groups: dict[tuple[str, ...], list[str]] = {}
    for facet in names:
        field = _FACET_FIELDS[facet]
        dropped = (field,) if getattr(query, field) else ()
        groups.setdefault(dropped, []).append(facet)
    result: dict[str, list[tuple[str, int]]] = {f: [] for f in names}
    for dropped, facets in groups.items():
        unfiltered = dataclasses.replace(query, **{f: None for f in dropped})
        matched = (
            engine.join(sa.select(*_FACET_COLUMNS).select_from(Offer), parsed)
            .where(*engine.match(parsed), *_filters(unfiltered, engine, now))
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        parts = [p for f in facets for p in _facet_selects(matched, f, engine, now)]
        rows = db.execute(sa.union_all(*parts) if len(parts) > 1 else parts[0])
        for facet, value, count in rows:
            if count:
                result[facet].append((str(value), int(count)))
    result = {f: _merge_towns(v) if f == "town" else v for f, v in result.items()}
    for facet, values in result.items():
        if facet == "posted":
            values.sort(key=lambda vc: int(vc[0]))
        else:
            values.sort(key=lambda vc: (-vc[1], vc[0]))
    return result


def _facet_names(query: OfferQuery) -> tuple[str, ...]:
    if isinstance(query.facets, tuple):
        unknown = set(query.facets) - set(ALL_FACETS)
        if unknown:
            raise ValueError(f"unknown facets: {sorted(unknown)}")
        return query.facets
    return FACETS


_FACET_COLUMNS = (
    Offer.id,
    Offer.kind,
    Offer.cluster_id,
    Offer.country,
    Offer.language,
    Offer.town,
    Offer.organisation_id,
    Offer.published_at,
    Offer.sectors,
    Offer.occupations,
)
_JSON_FACETS = {"sector": "sectors", "occupation": "occupations"}


def _facet_selects(
    matched: sa.CTE, facet: str, engine: _Sqlite | _Postgres, now: datetime
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


def _filters(
    query: OfferQuery, engine: _Sqlite | _Postgres, now: datetime
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.status:
        where.append(Offer.status == query.status)
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


def _clean(value: str) -> str:
    # Filters come from URLs; PostgreSQL refuses NUL in text, SQLite stores it.
    return value.replace("\x00", "")


# --- engines ------------------------------------------------------------------------


class _Sqlite:
    """FTS5: MATCH on offers_fts, bm25() with column weights."""

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


class _Postgres:
    """tsvector @@ tsquery on the GIN-indexed column, ts_rank() with A/B/C weights."""

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


def _tsquery(name: str, text: str) -> sa.ColumnElement[object]:
    return sa.func.to_tsquery(_SIMPLE, sa.bindparam(name, text, sa.Text))


def _sqlite_time(now: datetime) -> str:
    # As SQLAlchemy stores UTCDateTime on SQLite: naive UTC text.
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _engine(db: Session) -> _Sqlite | _Postgres:
    name = db.get_bind().dialect.name
    if name == "sqlite":
        return _Sqlite()
    if name == "postgresql":
        return _Postgres()
    raise NotImplementedError(f"no search engine for dialect {name!r}")
