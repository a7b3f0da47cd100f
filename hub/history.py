"""Harvest history kept bounded: runs older than the retention are deleted and
their counts added to ``harvest_totals``, so the metrics' counters never go back.

Each run is deleted first (``DELETE ... RETURNING``) and counted by whoever deleted
it: two workers pruning at once never count a run twice.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import HarvestRun
from hub.models import HarvestTotal

# The shrink check of a complete feed looks back 7 days (hub.recording): keep more.
MIN_RETENTION = timedelta(days=8)
RUN_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
COUNTS = (
    "items_new",
    "items_updated",
    "items_unchanged",
    "items_withdrawn",
    "items_failed",
)


def prune(db: Session, now: datetime, keep: timedelta) -> int:
    """Delete finished runs started before ``now - keep``, adding them to the totals.

    Returns:
        How many runs were deleted. The caller commits.
    """
    keep = max(keep, MIN_RETENTION)
    deleted = db.execute(
        sa.delete(HarvestRun)
        .where(
            HarvestRun.status != "running",
            HarvestRun.finished_at.is_not(None),
            HarvestRun.started_at < now - keep,
        )
        .returning(
            HarvestRun.source_id,
            HarvestRun.status,
            HarvestRun.error_class,
            HarvestRun.started_at,
            HarvestRun.finished_at,
            *(getattr(HarvestRun, name) for name in COUNTS),
        )
    ).all()
    totals: dict[tuple[int, str, str], HarvestTotal] = {}
    for source_id, status, error_class, started, finished, *counts in deleted:
        key = (source_id, status, error_class or "")
        total = totals.get(key) or _total(db, *key)
        totals[key] = total
        seconds = max(0.0, (finished - started).total_seconds())
        total.runs += 1
        total.seconds += seconds
        for name, value in zip(COUNTS, counts, strict=True):
            setattr(total, name, getattr(total, name) + (value or 0))
        total.buckets = [
            have + (seconds <= bound)
            for have, bound in zip(total.buckets, RUN_BUCKETS, strict=True)
        ]
    db.flush()
    return len(deleted)


def _total(db: Session, source_id: int, status: str, error_class: str) -> HarvestTotal:
    total = db.scalar(
        sa.select(HarvestTotal).where(
            HarvestTotal.source_id == source_id,
            HarvestTotal.status == status,
            HarvestTotal.error_class == error_class,
        )
    )
    if total is None:
        total = HarvestTotal(
            source_id=source_id,
            status=status,
            error_class=error_class,
            runs=0,
            seconds=0.0,
            buckets=[0] * len(RUN_BUCKETS),
            **dict.fromkeys(COUNTS, 0),
        )
        db.add(total)
    return total
