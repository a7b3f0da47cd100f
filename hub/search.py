"""Offer search: the one interface the site and API call, over two engines.

SQLite uses the FTS5 table and PostgreSQL the weighted tsvector that migration 0002
creates (hub/search_ddl.py); both index the same folded text, and hub/search_query.py
turns what a visitor typed into the same query for each. Reads only; no writes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub import search_query
from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import Offer
from hub.places import find_place
from hub.search_query import ParsedQuery

MAX_PER_PAGE = 100
FACETS = ("kind", "cluster", "country", "language")
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
    sort: Literal["relevance", "date"] = "relevance"
    status: str | None = OfferStatus.ACTIVE  # None: every status
    facets: bool = False  # also fill OfferPage.facets (see facet_counts)


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
    where = [*engine.match(parsed), *_filters(query)]
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
    facets = facet_counts(db, query) if query.facets else {}
    return OfferPage(offers, total, page, per_page, facets)


def facet_counts(db: Session, query: OfferQuery) -> dict[str, list[tuple[str, int]]]:
    """Counts per kind, cluster slug, country and language, computed in SQL.

    Each facet is counted under every filter of ``query`` but its own, so a visitor
    who picked one kind still sees how many offers the other kinds hold. Most common
    value first; offers without a value are not counted.
    """
    parsed = search_query.parse(query.text)
    engine = _engine(db)
    own = {
        "kind": query.kind,
        "cluster": query.cluster,
        "country": query.country,
        "language": query.language,
    }
    # Facets that share the same filters share one query (one text match).
    groups: dict[tuple[str, ...], list[str]] = {}
    for facet in FACETS:
        dropped = (facet,) if own[facet] else ()
        groups.setdefault(dropped, []).append(facet)
    result: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
    for dropped, facets in groups.items():
        unfiltered = dataclasses.replace(query, **{f: None for f in dropped})
        matched = (
            engine.join(
                sa.select(
                    Offer.kind, Offer.cluster_id, Offer.country, Offer.language
                ).select_from(Offer),
                parsed,
            )
            .where(*engine.match(parsed), *_filters(unfiltered))
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        parts = [_facet_select(matched, facet) for facet in facets]
        rows = db.execute(sa.union_all(*parts) if len(parts) > 1 else parts[0])
        for facet, value, count in rows:
            result[facet].append((str(value), int(count)))
    for values in result.values():
        values.sort(key=lambda vc: (-vc[1], vc[0]))
    return result


def _facet_select(matched: sa.CTE, facet: str) -> sa.Select[tuple[str, str, int]]:
    label = sa.literal(facet, sa.String)
    if facet == "cluster":
        return (
            sa.select(label, Cluster.slug, sa.func.count())
            .select_from(matched.join(Cluster, Cluster.id == matched.c.cluster_id))
            .group_by(Cluster.slug)
        )
    column = matched.c[facet]
    return (
        sa.select(label, column, sa.func.count())
        .where(column.is_not(None))
        .group_by(column)
    )


def _filters(query: OfferQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.status:
        where.append(Offer.status == query.status)
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
