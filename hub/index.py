"""Every write of the index, and the reads that are not search.

Functions take a Session.

Offers are upserted by (source, guid) and never deleted here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub import bulk
from hub import organisations
from hub import pg_vector
from hub import search_ddl
from hub import versions
from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import Offer
from hub.models import Organisation
from hub.models import Source
from hub.normalize import OfferData
from hub.normalize import ProfileData
from hub.registry import Registry

T = TypeVar("T")


@dataclasses.dataclass
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged


def sync_registry(db: Session, registry: Registry, now: datetime) -> None:
    """Make clusters and sources in the index match the registry.

    New sources are due at once; sources gone from the file become inactive (their
    offers and history stay); a changed URL forgets the old validators.
    """
    clusters = {c.slug: c for c in db.scalars(sa.select(Cluster))}
    for spec in registry.clusters:
        cluster = clusters.get(spec.slug) or Cluster(slug=spec.slug)
        cluster.name = dict(spec.name)
        cluster.description = dict(spec.description)
        cluster.country = spec.country
        cluster.sector = spec.sector
        cluster.homepage = spec.homepage
        cluster.languages = list(spec.languages)
        cluster.active = True
        db.add(cluster)
    for slug, cluster in clusters.items():
        if registry.find_cluster(slug) is None:
            cluster.active = False
    db.flush()
    clusters = {c.slug: c for c in db.scalars(sa.select(Cluster))}
    sources = {s.key: s for s in db.scalars(sa.select(Source))}
    wanted = {s.key for s in registry.sources}
    for spec_source in registry.sources:
        row = sources.get(spec_source.key)
        if row is None:
            row = Source(key=spec_source.key, next_check_at=now, consecutive_errors=0)
            db.add(row)
        elif row.url != spec_source.url:
            row.etag = row.last_modified = row.body_hash = row.attention = None
            row.next_check_at = now
        elif row.last_run_at is not None:  # a shortened interval applies at once
            row.next_check_at = min(
                row.next_check_at, row.last_run_at + spec_source.interval
            )
        row.cluster_id = clusters[spec_source.cluster].id
        row.type = spec_source.type
        row.url = spec_source.url
        row.interval_seconds = int(spec_source.interval.total_seconds())
        row.options = dict(spec_source.options)
        row.active = True
    for key, row in sources.items():
        if key not in wanted:
            row.active = False
    db.commit()


def list_sources(db: Session, *, active_only: bool = True) -> list[Source]:
    query = sa.select(Source).options(joinedload(Source.cluster)).order_by(Source.key)
    if active_only:
        query = query.where(Source.active)
    return list(db.scalars(query))


def upsert_offers(
    db: Session,
    source: Source,
    offers: Iterable[OfferData],
    now: datetime,
    *,
    regroup: set[str] | None = None,
) -> UpsertCounts:
    """Insert new offers, update changed ones, touch unchanged ones; never delete.

    Idempotent: the same offers a second time count as unchanged and write no content.
    An offer seen again is active again (unless its valid-through has passed), whatever
    absence or tombstone had withdrawn it. Written in bulk: one statement per batch of
    new or untouched offers, one per changed offer.

    Language versions (``group``) are regrouped here, unless the caller passes a
    ``regroup`` set: then the groups to regroup are added to it, for the caller to
    regroup once after its last batch (versions.regroup).
    """
    counts = UpsertCounts()
    offers = list(offers)
    known = _known(db, source, [o.guid for o in offers])
    inserts: list[dict[str, object]] = []
    touched: list[int] = []
    groups: set[str] = set()  # groups with a new or changed version
    writes: list[tuple[OfferData, dict[str, Any], sa.Row[Any] | None]] = []
    for data in offers:
        status = (
            OfferStatus.EXPIRED
            if data.valid_through and data.valid_through <= now
            else OfferStatus.ACTIVE
        )
        seen = {
            "last_seen_at": now,
            "missing_runs": 0,
            "missing_since": None,
            "status": status,
            "withdrawn_at": None,
        }
        row = known.get(data.guid)
        if row is not None and row.content_hash == data.content_hash:
            if row.status == status and row.missing_runs == 0:
                touched.append(row.id)  # the common case: only last_seen_at moves
            else:
                db.execute(sa.update(Offer).where(Offer.id == row.id).values(**seen))
            counts.unchanged += 1
            continue
        if data.group:
            groups.add(data.group)
        writes.append((data, seen, row))
    country = source.cluster.country
    pg = db.get_bind().dialect.name == "postgresql"
    orgs = organisations.resolve(
        db, (data.organisation for data, _, _ in writes if data.organisation), country
    )
    for data, seen, row in writes:
        org = data.organisation
        content = {
            **_content(data),
            "country": data.country or country,
            "organisation_id": orgs[organisations.key(org, country)] if org else None,
        }
        if row is None:
            new = {
                "source_id": source.id,
                "cluster_id": source.cluster_id,
                "guid": data.guid,
                "first_seen_at": now,
                "published_at": data.published_at or now,
                **content,
                **seen,
            }
            if pg:  # its search vector, or None for the trigger's (hub.pg_vector)
                new[search_ddl.PG_COLUMN] = pg_vector.vector(
                    data.pg_vector, new["kind"], new["language"], new["country"]
                )
            inserts.append(new)
            counts.new += 1
        else:
            dated = {"published_at": data.published_at} if data.published_at else {}
            db.execute(
                sa.update(Offer)
                .where(Offer.id == row.id)
                .values(**content, **dated, **seen)
            )
            counts.updated += 1
    if inserts:
        _insert(db, inserts)
    for chunk in _chunks(touched):
        db.execute(sa.update(Offer).where(Offer.id.in_(chunk)).values(last_seen_at=now))
    if regroup is None:
        versions.regroup(db, source.id, groups)
    else:
        regroup |= groups
    return counts


def _offer_columns() -> Iterator[sa.Column[Any]]:
    """Copies of the offers table's columns (with their Python defaults), for the
    tables new offers are written through."""
    for c in Offer.__table__.columns:
        default = None if c.default is None else c.default.arg
        yield sa.Column(c.name, c.type, primary_key=c.primary_key, default=default)


# SQLite: new offers wait here, on the writing connection, to be inserted in one
# statement.
_STAGED = sa.Table(
    "offers_staged",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True),
    *(c for c in _offer_columns() if c.name != "id"),
    prefixes=["TEMPORARY"],
)
# PostgreSQL: the offers table as a new offer is written to it, with the search
# vector (a column the database owns, not mapped: hub.search_ddl).
_WITH_VECTOR = sa.Table(
    "offers",
    sa.MetaData(),
    *_offer_columns(),
    sa.Column(search_ddl.PG_COLUMN, TSVECTOR),
)


def _insert(db: Session, rows: list[dict[str, object]]) -> None:
    """New offers, in order, in one statement.

    PostgreSQL: COPY into offers (hub.bulk), each with the search vector built in
    Python, which the trigger keeps (or NULL, which it computes). SQLite: an
    ``INSERT ... SELECT`` from a temporary table, so the text index's triggers
    run inside one statement instead of one per offer: FTS5 pays for each
    statement it writes in (its share of a new offer's insert: 0.2 -> 0.05 ms
    here, bench/README.md).
    """
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        bulk.insert(conn, _WITH_VECTOR, rows)
        return
    # One statement, not the two table_info queries (and reflection) of checkfirst.
    conn.execute(sa.schema.CreateTable(_STAGED, if_not_exists=True))
    bulk.insert(conn, _STAGED, rows)
    columns = [c for c in _STAGED.columns if c.name != "seq"]
    db.execute(
        sa.insert(Offer).from_select(
            [c.name for c in columns], sa.select(*columns).order_by(_STAGED.c.seq)
        )
    )
    db.execute(_STAGED.delete())


def upsert_profiles(
    db: Session, source: Source, profiles: Iterable[ProfileData], now: datetime
) -> UpsertCounts:
    """Write company profiles onto the organisations they present (matched as an
    offer's organisation is: folded name and country), creating them if need be.

    A profile is not an offer: no offer is written, and none is touched. The last
    source to publish an organisation's profile owns it.
    """
    counts = UpsertCounts()
    profiles = list(profiles)
    country = source.cluster.country
    ids = organisations.resolve(db, (p.organisation for p in profiles), country)
    for data in profiles:
        org = db.get(Organisation, ids[organisations.key(data.organisation, country)])
        assert org is not None
        if org.profile_source_id is None or org.profile_hash is None:
            counts.new += 1
        elif (
            org.profile_hash == data.content_hash
            and org.profile_source_id == source.id
            and org.profile_guid == data.guid
            and org.profile_withdrawn_at is None
        ):
            counts.unchanged += 1
        else:
            counts.updated += 1
        org.description = data.description_html
        org.capabilities = list(data.capabilities)
        org.sectors = list(data.sectors)
        org.profile_url = data.url
        org.profile_language = data.language
        org.profile_source_id = source.id
        org.profile_guid = data.guid
        org.profile_hash = data.content_hash
        org.profile_seen_at = now
        org.profile_withdrawn_at = None
    db.flush()
    return counts


def withdraw_profiles(
    db: Session,
    source: Source,
    now: datetime,
    *,
    guids: Iterable[str] | None = None,
    keep: set[str] | None = None,
) -> int:
    """Withdraw the company profiles of ``source`` named in ``guids`` (tombstones),
    or all but those in ``keep`` (a complete feed). The organisations and their
    offers stay; only their profile is marked withdrawn.

    Returns:
        How many profiles were withdrawn now.
    """
    query = sa.select(Organisation).where(
        Organisation.profile_source_id == source.id,
        Organisation.profile_withdrawn_at.is_(None),
    )
    wanted = set(guids) if guids is not None else None
    withdrawn = 0
    for org in db.scalars(query):
        if wanted is not None and org.profile_guid not in wanted:
            continue
        if keep is not None and org.profile_guid in keep:
            continue
        org.profile_withdrawn_at = now
        withdrawn += 1
    return withdrawn


def _content(data: OfferData) -> dict[str, object]:
    # JSON lists as tuples: hub.bulk binds each distinct value once.
    return {
        "kind": data.kind.value,
        "title": data.title,
        "body_html": data.body_html,
        "body_text": data.body_text,
        "language": data.language,
        "url": data.url,
        "categories": tuple(data.categories),
        "updated_at": data.updated_at,
        "valid_through": data.valid_through,
        "content_hash": data.content_hash,
        "search_text": data.search_text,
        "organisation_name": data.organisation.name if data.organisation else None,
        "town": data.town,
        "sectors": tuple(data.sectors),
        "occupations": tuple(data.occupations),
        "contact": dict(data.contact),
        "group_key": data.group,
    }


def _chunks(values: list[T], size: int = 500) -> Iterator[list[T]]:
    """Batches small enough for any backend's bound-parameter limit."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _known(db: Session, source: Source, guids: list[str]) -> dict[str, sa.Row[Any]]:
    """What the index knows of these guids of ``source``: id, hash, status, absences."""
    found: dict[str, sa.Row[Any]] = {}
    columns = (
        Offer.id,
        Offer.guid,
        Offer.content_hash,
        Offer.status,
        Offer.missing_runs,
    )
    pg = db.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(guids):
        found.update(
            (row.guid, row) for row in db.execute(_by_guid(source, chunk, columns, pg))
        )
    return found


def _by_guid(
    source: Source, guids: list[str], columns: tuple[Any, ...], pg: bool
) -> sa.Select[Any]:
    """``columns`` of the offers of ``source`` with these guids.

    On PostgreSQL, one probe of the (source_id, guid) index per guid, whatever the
    planner knows of the source. For a source the table's statistics do not know
    (a new member's: while there are fewer than a hundred sources, every known one
    is in them), it expects a single offer, and then every index that starts with
    source_id costs the same: it took (source_id, group_key) and read all the
    source's offers for each guid (4.75 million rows a batch, 10,000 offers into a
    first harvest). Given as a subquery, the source is a value the planner cannot
    look up: it plans for an average source, which only the (source_id, guid) index
    serves in one probe a guid. The LIMIT keeps the lateral subquery from being
    flattened into a join.
    """
    if not pg:
        return sa.select(*columns).where(
            Offer.source_id == source.id, Offer.guid.in_(guids)
        )
    guid = (
        sa.func.unnest(sa.literal(guids, postgresql.ARRAY(sa.String)))
        .table_valued("guid")
        .render_derived(name="wanted")
    )
    unknown = sa.select(sa.literal(source.id, sa.Integer)).scalar_subquery()
    probe = (
        sa.select(*columns)
        .where(Offer.source_id == unknown, Offer.guid == guid.c.guid)
        .limit(1)
        .lateral("offer")
    )
    return sa.select(probe).select_from(guid).join(probe, sa.true())


def withdraw(db: Session, source: Source, guids: Iterable[str], now: datetime) -> int:
    """Withdraw the offers a document explicitly says are gone (RFC 6721 tombstones)."""
    withdrawn = 0
    pg = db.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(list(guids)):
        named = _by_guid(source, chunk, (Offer.id,), pg)
        result = db.execute(
            sa.update(Offer)
            .where(Offer.id.in_(named), Offer.status != OfferStatus.WITHDRAWN)
            .values(status=OfferStatus.WITHDRAWN, withdrawn_at=now)
        )
        withdrawn += int(result.rowcount)  # type: ignore[attr-defined]
    return withdrawn


def withdraw_all(db: Session, source: Source, now: datetime) -> int:
    """Withdraw every active offer of ``source`` (its feed declared itself finished)."""
    result = db.execute(
        sa.update(Offer)
        .where(Offer.source_id == source.id, Offer.status == OfferStatus.ACTIVE)
        .values(status=OfferStatus.WITHDRAWN, withdrawn_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_missing(
    db: Session,
    source: Source,
    seen: set[str] | None,
    now: datetime,
    *,
    runs: int = 3,
    span: timedelta = timedelta(hours=24),
) -> int:
    """Count one more absence for every active offer of a complete source not in
    ``seen``; withdraw those missing from ``runs`` consecutive harvests spanning at
    least ``span``. Call only after a sane harvest of a complete feed.

    ``seen=None`` means the document did not change since the last harvest (a 304 or
    the same bytes): the offers missing then are missing still.

    Returns:
        How many offers were withdrawn now.
    """
    # Narrow rows, not Offer objects: a complete feed of 100k offers reads them all.
    query = sa.select(
        Offer.id, Offer.guid, Offer.missing_runs, Offer.missing_since
    ).where(Offer.source_id == source.id, Offer.status == OfferStatus.ACTIVE)
    if seen is None:  # a literal 0: the condition of the partial ix_offers_missing
        query = query.where(Offer.missing_runs > sa.literal_column("0"))
    with db.no_autoflush:  # pending changes of the run and source: not read here
        rows = db.execute(query).all()
    absent: list[dict[str, object]] = []
    gone: list[dict[str, object]] = []
    for row in rows:
        if seen is not None and row.guid in seen:
            continue
        since = row.missing_since or now
        values: dict[str, object] = {
            "id": row.id,
            "missing_runs": row.missing_runs + 1,
            "missing_since": since,
        }
        if row.missing_runs + 1 >= runs and now - since >= span:
            gone.append(values | {"status": OfferStatus.WITHDRAWN, "withdrawn_at": now})
        else:
            absent.append(values)
    for changes in (absent, gone):  # by primary key, one executemany each
        if changes:
            db.execute(sa.update(Offer), changes)
    return len(gone)


def sources_with_missing(db: Session, source_ids: list[int]) -> set[int]:
    """The sources among ``source_ids`` with active offers missing from their
    feeds already (what mark_missing counts again after a 304): one SELECT."""
    query = (
        sa.select(Offer.source_id)
        .where(
            Offer.source_id.in_(source_ids),
            Offer.status == OfferStatus.ACTIVE,
            Offer.missing_runs > sa.literal_column("0"),  # as ix_offers_missing
        )
        .distinct()
    )
    with db.no_autoflush:
        return set(db.scalars(query))


def expire_offers(db: Session, now: datetime) -> int:
    """Move active offers whose valid-through has passed to expired."""
    result = db.execute(
        sa.update(Offer)
        .where(Offer.status == OfferStatus.ACTIVE, Offer.valid_through <= now)
        .values(status=OfferStatus.EXPIRED)
    )
    db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def request_harvest(
    db: Session, source: Source, now: datetime, min_gap: timedelta
) -> timedelta | None:
    """Make ``source`` due now, unless it was pinged less than ``min_gap`` ago.

    Returns:
        None when accepted, else how long the caller must wait.
    """
    if source.last_ping_at is not None and now - source.last_ping_at < min_gap:
        return source.last_ping_at + min_gap - now
    source.last_ping_at = now
    source.next_check_at = min(source.next_check_at, now)
    db.commit()
    return None
