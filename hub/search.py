"""Offer search: the one interface the site and API call.

This first engine matches every folded query word as a substring of a folded text
column, so it is diacritic-blind on SQLite and PostgreSQL alike (``obrobka`` finds
``obróbka``).
Full-text engines (FTS5, PostgreSQL tsvector) replace it behind the same interface.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import joinedload

from hub.kinds import OfferStatus
from hub.models import Cluster
from hub.models import Offer
from hub.text import fold

MAX_TERMS = 8


@dataclasses.dataclass(frozen=True)
class OfferQuery:
    text: str = ""
    cluster: str | None = None
    page: int = 1
    per_page: int = 20


@dataclasses.dataclass(frozen=True)
class OfferPage:
    offers: list[Offer]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def terms(text: str) -> list[str]:
    """The folded words of a query, at most MAX_TERMS."""
    return fold(text).split()[:MAX_TERMS]


def search_offers(db: Session, query: OfferQuery) -> OfferPage:
    """Active offers matching every word of ``query.text``, newest first."""
    where = [Offer.status == OfferStatus.ACTIVE]
    for term in terms(query.text):
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Offer.search_text.like(f"%{escaped}%", escape="\\"))
    if query.cluster:
        where.append(
            Offer.cluster_id
            == sa.select(Cluster.id)
            .where(Cluster.slug == query.cluster)
            .scalar_subquery()
        )
    total = db.scalar(sa.select(sa.func.count()).select_from(Offer).where(*where)) or 0
    page = max(1, query.page)
    offers = db.scalars(
        sa.select(Offer)
        .options(joinedload(Offer.cluster), joinedload(Offer.organisation))
        .where(*where)
        .order_by(Offer.published_at.desc(), Offer.id.desc())
        .offset((page - 1) * query.per_page)
        .limit(query.per_page)
    )
    return OfferPage(list(offers), total, page, query.per_page)
