"""Every write of the index, and the reads that are not search.

Functions take a Session.

Offers are upserted by (source, guid) and never deleted here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import Offer
from hub.models import Source
from hub.normalize import OfferData
from hub.registry import Registry


@dataclasses.dataclass
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


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
            row.etag = row.last_modified = None
            row.next_check_at = now
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


def find_source(db: Session, key: str) -> Source | None:
    return db.scalar(sa.select(Source).where(Source.key == key))


def list_sources(db: Session, *, active_only: bool = True) -> list[Source]:
    query = sa.select(Source).options(joinedload(Source.cluster)).order_by(Source.key)
    if active_only:
        query = query.where(Source.active)
    return list(db.scalars(query))


def upsert_offers(
    db: Session, source: Source, offers: Iterable[OfferData], now: datetime
) -> UpsertCounts:
    """Insert new offers, update changed ones, touch unchanged ones; never delete.

    Idempotent: the same offers a second time count as unchanged and write no content.
    """
    counts = UpsertCounts()
    offers = list(offers)
    existing = {
        o.guid: o
        for o in db.scalars(
            sa.select(Offer).where(
                Offer.source_id == source.id, Offer.guid.in_([o.guid for o in offers])
            )
        )
    }
    country = source.cluster.country
    for data in offers:
        row = existing.get(data.guid)
        if row is not None and row.content_hash == data.content_hash:
            row.last_seen_at = now
            if row.status == OfferStatus.WITHDRAWN:
                row.status = OfferStatus.ACTIVE
            counts.unchanged += 1
            continue
        if row is None:
            row = Offer(
                source_id=source.id,
                cluster_id=source.cluster_id,
                guid=data.guid,
                first_seen_at=now,
                country=country,
            )
            existing[data.guid] = row
            db.add(row)
            counts.new += 1
        else:
            counts.updated += 1
        row.kind = data.kind.value
        row.title = data.title
        row.body_html = data.body_html
        row.body_text = data.body_text
        row.language = data.language
        row.url = data.url
        row.categories = list(data.categories)
        row.published_at = data.published_at
        row.updated_at = data.updated_at
        row.content_hash = data.content_hash
        row.search_text = data.search_text
        row.status = OfferStatus.ACTIVE
        row.last_seen_at = now
    return counts


# --- reads for the site -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClusterSummary:
    cluster: Cluster
    offers: int
    last_success_at: datetime | None


def list_cluster_summaries(db: Session) -> list[ClusterSummary]:
    """Active clusters with their live offer counts and last successful harvest."""
    counts = dict(
        db.execute(
            sa.select(Offer.cluster_id, sa.func.count())
            .where(Offer.status == OfferStatus.ACTIVE)
            .group_by(Offer.cluster_id)
        ).all()
    )
    last = dict(
        db.execute(
            sa.select(Source.cluster_id, sa.func.max(Source.last_success_at)).group_by(
                Source.cluster_id
            )
        ).all()
    )
    clusters = db.scalars(
        sa.select(Cluster).where(Cluster.active).order_by(Cluster.slug)
    )
    return [ClusterSummary(c, counts.get(c.id, 0), last.get(c.id)) for c in clusters]


def list_latest_offers(db: Session, limit: int = 10) -> list[Offer]:
    return list(
        db.scalars(
            sa.select(Offer)
            .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
            .where(Offer.status == OfferStatus.ACTIVE)
            .order_by(Offer.published_at.desc(), Offer.id.desc())
            .limit(limit)
        )
    )


def find_offer(db: Session, offer_id: int) -> Offer | None:
    return db.scalar(
        sa.select(Offer)
        .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
        .where(Offer.id == offer_id)
    )


def list_clusters(db: Session) -> list[Cluster]:
    return list(
        db.scalars(sa.select(Cluster).where(Cluster.active).order_by(Cluster.slug))
    )
