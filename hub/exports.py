"""Reads of the index for the machine side (JSON API, sitemaps): offer pages that
stay stable while harvests write (keyset on the sort key and id, never an offset),
and the offer stamps sitemaps list. Functions take a Session; no writes here.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import listings
from hub import search
from hub import search_query
from hub.kinds import OfferStatus
from hub.models import Offer
from hub.search import OfferQuery
from hub.search_engines import engine_for


@dataclasses.dataclass(frozen=True)
class OfferPosition:
    """Where a page of offers ended, in newest-first order."""

    published_at: datetime
    id: int


def list_offers_after(
    db: Session,
    query: OfferQuery,
    after: OfferPosition | None,
    limit: int,
    now: datetime | None = None,
) -> list[Offer]:
    """Up to ``limit`` offers matching ``query``'s text and filters, newest first
    (published, then id), strictly after ``after``.

    An offer that arrives between two pages sorts before the position already
    reached (or after it, if older), so walking the pages meets every offer that
    was there at the start exactly once.
    """
    now = now or datetime.now(UTC)
    parsed = search_query.parse(query.text)
    # The search engine's own match and filters: the API and the site cannot
    # disagree on what a query finds.
    engine = engine_for(db)
    where = [*engine.match(parsed), *search.offer_filters(query, engine, now)]
    if after is not None:
        where.append(
            sa.or_(
                Offer.published_at < after.published_at,
                sa.and_(Offer.published_at == after.published_at, Offer.id < after.id),
            )
        )
    ids = list(
        db.scalars(
            engine.join(sa.select(Offer.id), parsed)
            .where(*where)
            .order_by(Offer.published_at.desc(), Offer.id.desc())
            .limit(limit)
        )
    )
    return listings.load_offers(db, ids)


def count_live_offers(db: Session) -> int:
    return (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(Offer)
            .where(Offer.status == OfferStatus.ACTIVE)
        )
        or 0
    )


def list_offer_stamps(
    db: Session, start: int, count: int
) -> list[tuple[int, datetime]]:
    """(id, last change) of live offers ``start`` to ``start + count`` by id: the
    offers of one sitemap file."""
    rows = db.execute(
        sa.select(Offer.id, Offer.published_at, Offer.updated_at)
        .where(Offer.status == OfferStatus.ACTIVE)
        .order_by(Offer.id)
        .offset(start)
        .limit(count)
    )
    return [(i, max(p, u) if u else p) for i, p, u in rows]
