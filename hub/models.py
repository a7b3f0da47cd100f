"""The unified index as SQLAlchemy 2.0 typed models.

The schema itself comes from migrations.

Times are aware UTC everywhere (``UTCDateTime`` restores the zone SQLite drops).
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; returns them aware on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the index; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime,
        dict[str, Any]: sa.JSON,
        list[str]: sa.JSON,
    }


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[dict[str, Any]]
    description: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str] = mapped_column(sa.String(2))
    sector: Mapped[str] = mapped_column(sa.String(100))
    homepage: Mapped[str] = mapped_column(sa.String(2000))
    languages: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(default=True)

    sources: Mapped[list[Source]] = relationship(back_populates="cluster")

    def display_name(self, language: str) -> str:
        return str(self.name.get(language) or self.name.get("en") or self.slug)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(130), unique=True)
    cluster_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    url: Mapped[str] = mapped_column(sa.String(2000))
    interval_seconds: Mapped[int]
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # fetch state
    etag: Mapped[str | None] = mapped_column(sa.String(1000))
    last_modified: Mapped[str | None] = mapped_column(sa.String(100))
    body_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # What a multi-page connector keeps between runs (connectors.base.Crawler).
    crawl_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_status: Mapped[int | None]
    next_check_at: Mapped[datetime] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    consecutive_errors: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]
    # why an operator must look (gone, long refused); polling goes on regardless
    attention: Mapped[str | None] = mapped_column(sa.String(500))
    last_ping_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))

    cluster: Mapped[Cluster] = relationship(back_populates="sources")


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (sa.UniqueConstraint("name_key", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(500))
    name_key: Mapped[str] = mapped_column(sa.String(500))
    country: Mapped[str] = mapped_column(sa.String(2), default="")
    town: Mapped[str | None] = mapped_column(sa.String(200))
    website: Mapped[str | None] = mapped_column(sa.String(2000))
    identifiers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # from its company profile (feeds/PROFILE.md), if a source publishes one
    description: Mapped[str] = mapped_column(sa.Text, default="")  # sanitised HTML
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    sectors: Mapped[list[str]] = mapped_column(default=list)  # NACE codes
    profile_url: Mapped[str | None] = mapped_column(sa.String(2000))
    profile_language: Mapped[str | None] = mapped_column(sa.String(8))
    profile_source_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sources.id"), index=True
    )
    profile_guid: Mapped[str | None] = mapped_column(sa.String(2000))
    profile_hash: Mapped[str | None] = mapped_column(sa.String(64))
    profile_seen_at: Mapped[datetime | None]
    # the profile left its feed (tombstone, or absent from a complete feed); the
    # organisation and its offers stay
    profile_withdrawn_at: Mapped[datetime | None]

    profile_source: Mapped[Source | None] = relationship()

    @property
    def has_profile(self) -> bool:
        """A live company profile describes this organisation."""
        return self.profile_source_id is not None and self.profile_withdrawn_at is None


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "guid"),
        sa.Index("ix_offers_status_published", "status", "published_at"),
        sa.Index("ix_offers_source_status", "source_id", "status"),
        sa.Index("ix_offers_source_group", "source_id", "group_key"),
        # live offers per cluster and kind, one per real offer (hub.listings); also
        # the index of the foreign key cluster_id
        sa.Index("ix_offers_counts", "cluster_id", "status", "kind", "shown_in"),
        # mark_missing after a 304: the offers a complete feed left out (few or none)
        sa.Index(
            "ix_offers_missing",
            "source_id",
            "status",
            sqlite_where=sa.text("missing_runs > 0"),
            postgresql_where=sa.text("missing_runs > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id"))
    cluster_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"))
    guid: Mapped[str] = mapped_column(sa.String(2000))
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    title: Mapped[str] = mapped_column(sa.String(1000))
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    language: Mapped[str | None] = mapped_column(sa.String(8))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id")
    )
    # as the offer names it; indexed for search between title and categories
    organisation_name: Mapped[str | None] = mapped_column(sa.String(500))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    town: Mapped[str | None] = mapped_column(sa.String(200))
    categories: Mapped[list[str]] = mapped_column(default=list)
    sectors: Mapped[list[str]] = mapped_column(default=list)  # NACE codes
    occupations: Mapped[list[str]] = mapped_column(default=list)  # ESCO URIs
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the language versions of one offer share a group within their source
    group_key: Mapped[str | None] = mapped_column(sa.String(500))
    # the site languages this version stands for its group in ("|pl|lt|en|" when it
    # has no other versions): one result per real offer (hub.versions)
    shown_in: Mapped[str] = mapped_column(sa.String(40), default="|pl|lt|en|")
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    valid_through: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # absence from a complete feed: runs missed in a row, since when (withdrawal rule)
    missing_runs: Mapped[int] = mapped_column(default=0)
    missing_since: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]

    source: Mapped[Source] = relationship()
    cluster: Mapped[Cluster] = relationship()
    organisation: Mapped[Organisation | None] = relationship()


class HarvestRun(Base):
    __tablename__ = "harvest_runs"
    __table_args__ = (
        sa.Index("ix_harvest_runs_source_started", "source_id", "started_at"),
        sa.Index("ix_harvest_runs_status", "status"),
        sa.Index("ix_harvest_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # running, ok, not_modified, unchanged (same body), error
    status: Mapped[str] = mapped_column(sa.String(16))
    http_status: Mapped[int | None]
    bytes: Mapped[int] = mapped_column(default=0)
    items_new: Mapped[int] = mapped_column(default=0)
    items_updated: Mapped[int] = mapped_column(default=0)
    items_unchanged: Mapped[int] = mapped_column(default=0)
    items_failed: Mapped[int] = mapped_column(default=0)
    items_withdrawn: Mapped[int] = mapped_column(default=0)
    error_class: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)
    warning: Mapped[str | None] = mapped_column(sa.Text)
    owner: Mapped[str | None] = mapped_column(sa.String(200))

    source: Mapped[Source] = relationship()

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class HarvestTotal(Base):
    """What pruned harvest runs added up to, per source, status and error class:
    the metrics' counters keep counting after old runs are deleted (hub.history)."""

    __tablename__ = "harvest_totals"
    __table_args__ = (sa.UniqueConstraint("source_id", "status", "error_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    error_class: Mapped[str] = mapped_column(sa.String(32), default="")  # "": none
    runs: Mapped[int] = mapped_column(default=0)
    items_new: Mapped[int] = mapped_column(default=0)
    items_updated: Mapped[int] = mapped_column(default=0)
    items_unchanged: Mapped[int] = mapped_column(default=0)
    items_withdrawn: Mapped[int] = mapped_column(default=0)
    items_failed: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    # runs that took at most each of hub.metrics.RUN_BUCKETS seconds (cumulative)
    buckets: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
