"""Harvest timing: when a source is due, who harvests it, and what ticks.

When a source is next due (a pure rule), who harvests it (a lease in the index), and
the APScheduler wiring that ticks. The tick holds no logic of its own.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session

from hub.models import Source

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=24)
DEFAULT_LEASE = timedelta(minutes=10)


def utcnow() -> datetime:
    return datetime.now(UTC)


def next_check_at(
    now: datetime, interval: timedelta, consecutive_errors: int
) -> datetime:
    """The next harvest time.

    The interval, doubled per consecutive error, capped at 24 h (never below the
    interval itself, and never "stop polling").
    """
    if consecutive_errors <= 0:
        return now + interval
    backoff = interval * (2 ** min(consecutive_errors, 16))
    return now + max(interval, min(backoff, MAX_BACKOFF))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(
    db: Session,
    now: datetime,
    owner: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    due_only: bool = True,
    keys: list[str] | None = None,
    limit: int = 100,
) -> list[Source]:
    """Lease sources to ``owner`` and return them.

    A source is leased to one owner at a time. PostgreSQL: ``FOR UPDATE SKIP LOCKED``
    lets any number of workers claim side by side. SQLite: a compare-and-set on
    ``lease_until`` does the same for the processes of one machine. An expired lease
    (a worker that died) is claimable again.
    """
    free = sa.or_(Source.lease_until.is_(None), Source.lease_until < now)
    where = [Source.active, free]
    if due_only:
        where.append(Source.next_check_at <= now)
    if keys is not None:
        where.append(Source.key.in_(keys))
    query = (
        sa.select(Source.id).where(*where).order_by(Source.next_check_at).limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for source_id in db.scalars(query).all():
        result = db.execute(
            sa.update(Source)
            .where(Source.id == source_id, free)
            .values(lease_until=now + lease, lease_owner=owner)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(source_id)
    db.commit()
    if not claimed:
        return []
    return list(
        db.scalars(sa.select(Source).where(Source.id.in_(claimed)).order_by(Source.key))
    )


def start(tick: Callable[[], object], seconds: float) -> BackgroundScheduler:
    """Start one APScheduler job that calls ``tick`` every ``seconds``.

    Runs never overlap. Due times live in the index, not in an APScheduler job store,
    so restarting or running several schedulers loses nothing and doubles nothing.
    """
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    scheduler.add_job(
        tick, "interval", seconds=seconds, id="harvest-tick", next_run_time=utcnow()
    )
    scheduler.start()
    log.info("scheduler started: tick every %ss", seconds)
    return scheduler
