"""Reads of the index for the site, the API and the CLI: cluster summaries, latest
offers, one offer and its language versions, source health, the directory of
organisations. Functions take a Session; no writes here (those are hub.index).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub import versions
from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Organisation
from hub.models import Source
from hub.text import fold
from hub.text import squash


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
            .where(Offer.status == OfferStatus.ACTIVE, versions.one_per_offer())
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


def list_latest_offers(
    db: Session,
    limit: int = 10,
    cluster_id: int | None = None,
    language: str | None = None,
) -> list[Offer]:
    """The newest live offers, of one cluster if ``cluster_id`` is given; one version
    of each, the one shown in ``language`` (hub.versions), if it is given."""
    query = (
        sa.select(Offer)
        .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
        .where(Offer.status == OfferStatus.ACTIVE)
        .order_by(Offer.published_at.desc(), Offer.id.desc())
        .limit(limit)
    )
    if cluster_id is not None:
        query = query.where(Offer.cluster_id == cluster_id)
    if language is not None:
        query = query.where(versions.shown_in(language))
    return list(db.scalars(query))


def load_offers(db: Session, ids: list[int]) -> list[Offer]:
    """The offers of ``ids`` in that order, with their cluster and organisation."""
    rows = {
        o.id: o
        for o in db.scalars(
            sa.select(Offer)
            .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
            .where(Offer.id.in_(ids))
        )
    }
    return [rows[i] for i in ids if i in rows]


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


def list_source_health(
    db: Session, cluster_id: int | None = None
) -> list[SourceHealth]:
    """Every active source (of one cluster if given) with its last finished run."""
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
        .where(sa.true() if cluster_id is None else Source.cluster_id == cluster_id)
        .order_by(Source.key)
    ).all()
    return [SourceHealth(source, run) for source, run in rows]


def find_source(db: Session, source_id: int) -> Source | None:
    return db.scalar(sa.select(Source).where(Source.id == source_id, Source.active))


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


SIMILAR_CANDIDATES = 200  # newest offers of the same kind weighed per offer page


def list_similar_offers(
    db: Session, offer: Offer, language: str, limit: int = 5
) -> list[Offer]:
    """Live offers like ``offer``: of its kind, weighed by shared sectors,
    occupations and categories, then town and cluster, newest first among equals;
    one version of each (the one shown in ``language``), none of its own group.

    The candidates are weighed from the few columns that say what an offer is
    about; only the chosen ones are loaded whole (200 whole offers were most of an
    offer page's time)."""
    query = (
        sa.select(
            Offer.id,
            Offer.sectors,
            Offer.occupations,
            Offer.categories,
            Offer.town,
            Offer.cluster_id,
        )
        .where(
            Offer.kind == offer.kind,
            Offer.status == OfferStatus.ACTIVE,
            Offer.id != offer.id,
            versions.shown_in(language),
        )
        .order_by(Offer.published_at.desc(), Offer.id.desc())
        .limit(SIMILAR_CANDIDATES)
    )
    if offer.group_key:
        query = query.where(
            sa.or_(
                Offer.source_id != offer.source_id,
                Offer.group_key.is_(None),
                Offer.group_key != offer.group_key,
            )
        )
    sectors, occupations = set(offer.sectors), set(offer.occupations)
    categories = {c.lower() for c in offer.categories}
    town = fold(offer.town) if offer.town else None

    def likeness(other: sa.Row[Any]) -> int:
        shared = (
            len(sectors.intersection(other.sectors))
            + len(occupations.intersection(other.occupations))
            + len(categories & {c.lower() for c in other.categories})
        )
        same_town = town is not None and town == fold(other.town or "")
        return 4 * shared + 2 * same_town + (other.cluster_id == offer.cluster_id)

    weighed = [(likeness(row), row.id) for row in db.execute(query)]
    chosen = [i for weight, i in sorted(weighed, key=lambda w: -w[0]) if weight][:limit]
    if not chosen:
        return []
    return load_offers(db, chosen)


# --- clusters and organisations -----------------------------------------------------


def find_cluster(db: Session, slug: str) -> Cluster | None:
    """An active cluster by slug."""
    return db.scalar(sa.select(Cluster).where(Cluster.slug == slug, Cluster.active))


def count_offers_by_kind(db: Session, cluster_id: int) -> dict[str, int]:
    """Live offers of a cluster per kind, most first."""
    rows = db.execute(
        sa.select(Offer.kind, sa.func.count())
        .where(
            Offer.cluster_id == cluster_id,
            Offer.status == OfferStatus.ACTIVE,
            versions.one_per_offer(),
        )
        .group_by(Offer.kind)
        .order_by(sa.func.count().desc(), Offer.kind)
    )
    return {kind: int(count) for kind, count in rows}


@dataclasses.dataclass(frozen=True)
class OrganisationSummary:
    """A row of the companies directory."""

    organisation: Organisation
    offers: int  # live
    clusters: list[Cluster]


@dataclasses.dataclass(frozen=True)
class OrganisationPage:
    items: list[OrganisationSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_organisations(
    db: Session,
    text: str = "",
    *,
    cluster: str | None = None,
    country: str | None = None,
    page: int = 1,
    per_page: int = 30,
) -> OrganisationPage:
    """Organisations by name, those whose folded name contains the folded ``text``
    (``lodz`` finds ``Łódź``), of a cluster (one of its offers) and a country."""
    live = (
        sa.select(Offer.organisation_id, sa.func.count().label("offers"))
        .where(
            Offer.status == OfferStatus.ACTIVE,
            Offer.organisation_id.is_not(None),
            versions.one_per_offer(),
        )
        .group_by(Offer.organisation_id)
        .subquery()
    )
    where: list[sa.ColumnElement[bool]] = []
    needle = squash(fold(text.replace("\x00", "")))
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Organisation.name_key.like(f"%{escaped}%", escape="\\"))
    if country:
        where.append(Organisation.country == country.replace("\x00", "").upper())
    if cluster:
        where.append(
            sa.exists(
                sa.select(Offer.id)
                .join(Cluster, Cluster.id == Offer.cluster_id)
                .where(
                    Offer.organisation_id == Organisation.id,
                    Cluster.slug == cluster.replace("\x00", ""),
                )
            )
        )
    total = db.scalar(
        sa.select(sa.func.count()).select_from(Organisation).where(*where)
    )
    page = max(1, page)
    rows = db.execute(
        sa.select(Organisation, sa.func.coalesce(live.c.offers, 0))
        .outerjoin(live, live.c.organisation_id == Organisation.id)
        .where(*where)
        .order_by(Organisation.name_key, Organisation.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    clusters = _clusters_of(db, [org.id for org, _ in rows])
    items = [
        OrganisationSummary(org, int(n), clusters.get(org.id, [])) for org, n in rows
    ]
    return OrganisationPage(items, total or 0, page, per_page)


def find_organisation(db: Session, organisation_id: int) -> OrganisationSummary | None:
    """One organisation with its live offer count and clusters."""
    org = db.get(Organisation, organisation_id)
    if org is None:
        return None
    offers = db.scalar(
        sa.select(sa.func.count()).where(
            Offer.organisation_id == org.id,
            Offer.status == OfferStatus.ACTIVE,
            versions.one_per_offer(),
        )
    )
    return OrganisationSummary(
        org, offers or 0, _clusters_of(db, [org.id]).get(org.id, [])
    )


def organisation_names(db: Session, ids: list[str]) -> dict[str, str]:
    """Names of organisations by id as text (the organisation facet's values)."""
    wanted = [int(i) for i in ids if i.isdigit()]
    rows = db.execute(
        sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
    )
    return {str(i): name for i, name in rows}


def _clusters_of(db: Session, ids: list[int]) -> dict[int, list[Cluster]]:
    """The clusters whose offers (any status) or company profile name each
    organisation, by slug."""
    if not ids:
        return {}
    offers = sa.select(Offer.organisation_id, Offer.cluster_id).where(
        Offer.organisation_id.in_(ids)
    )
    profiles = (
        sa.select(Organisation.id, Source.cluster_id)
        .join(Source, Source.id == Organisation.profile_source_id)
        .where(Organisation.id.in_(ids))
    )
    pairs = db.execute(sa.union(offers, profiles)).all()
    clusters = {
        c.id: c
        for c in db.scalars(
            sa.select(Cluster).where(Cluster.id.in_({c for _, c in pairs}))
        )
    }
    rows = sorted(
        ((org_id, clusters[c]) for org_id, c in pairs), key=lambda r: r[1].slug
    )
    found: dict[int, list[Cluster]] = {}
    for org_id, cluster in rows:
        found.setdefault(org_id, []).append(cluster)
    return found
