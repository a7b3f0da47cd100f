"""Reads of the index for the site, the API and the CLI: cluster summaries, latest
offers, one offer and its language versions, source health. Functions take a Session;
no writes here (those are hub.index).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Source


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


@dataclasses.dataclass(frozen=True)
class SourceHealth:
    """A source with its last finished run: a row of the status page and of
    `ecoop status`."""

    source: Source
    last_run: HarvestRun | None

    @property
    def state(self) -> str:
        """``ok``, ``failing``, ``attention`` (an operator must look) or ``new``."""
        if self.source.attention:
            return "attention"
        if self.source.consecutive_errors:
            return "failing"
        return "ok" if self.last_run else "new"


def list_source_health(db: Session) -> list[SourceHealth]:
    """Every active source with its last finished run, by key."""
    latest = (
        sa.select(HarvestRun.source_id, sa.func.max(HarvestRun.id).label("run_id"))
        .where(HarvestRun.status != "running")
        .group_by(HarvestRun.source_id)
        .subquery()
    )
    rows = db.execute(
        sa.select(Source, HarvestRun)
        .options(joinedload(Source.cluster))
        .outerjoin(latest, latest.c.source_id == Source.id)
        .outerjoin(HarvestRun, HarvestRun.id == latest.c.run_id)
        .where(Source.active)
        .order_by(Source.key)
    ).all()
    return [SourceHealth(source, run) for source, run in rows]


def find_source_for_ping(
    db: Session, source: str | None, url: str | None
) -> Source | None:
    """The active source a ping names, by key or by its exact configured URL.

    Only sources in the registry can be named: a ping never introduces a URL.
    """
    query = sa.select(Source).where(Source.active)
    if source:
        return db.scalar(query.where(Source.key == source))
    if url:
        return db.scalars(
            query.where(Source.url == url.strip()).order_by(Source.key)
        ).first()
    return None


def list_language_versions(db: Session, offer: Offer) -> list[Offer]:
    """The other language versions of ``offer`` (same source and group), by language."""
    if not offer.group_key:
        return []
    return list(
        db.scalars(
            sa.select(Offer)
            .where(
                Offer.source_id == offer.source_id,
                Offer.group_key == offer.group_key,
                Offer.id != offer.id,
                Offer.status == OfferStatus.ACTIVE,
            )
            .order_by(Offer.language, Offer.id)
        )
    )
