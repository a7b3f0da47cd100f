"""Harvest timing: when a source is due, who harvests it, and what ticks.

When a source is next due (a pure rule), who harvests it (a lease in the index), and
the APScheduler wiring that ticks. The tick holds no logic of its own.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import parsedate_to_datetime

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session

from hub.models import HarvestRun
from hub.models import Source

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=24)
MAX_HINT = timedelta(hours=24)
JITTER = 0.1
DEFAULT_LEASE = timedelta(minutes=10)
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)


def utcnow() -> datetime:
    return datetime.now(UTC)


def next_check_at(
    now: datetime,
    interval: timedelta,
    consecutive_errors: int,
    *,
    hint: timedelta | None = None,
    jitter: float = 0.0,
) -> datetime:
    """The next harvest time: a pure rule.

    The interval, doubled per consecutive error up to 24 h (never below the interval
    itself, and never "stop polling"); raised, never lowered, by the server's ``hint``
    (see ``server_hint``); then stretched by ``jitter`` (a fraction, 0 to JITTER) so
    that sources added together drift apart.
    """
    wait = interval
    if consecutive_errors > 0:
        wait = max(
            interval, min(interval * (2 ** min(consecutive_errors, 16)), MAX_BACKOFF)
        )
    if hint is not None:
        wait = max(wait, min(hint, MAX_HINT))
    return now + wait * (1 + max(0.0, jitter))


def server_hint(
    headers: Mapping[str, str], now: datetime, ttl: timedelta | None = None
) -> timedelta | None:
    """The longest wait the publisher asks for, capped at MAX_HINT.

    ``Retry-After`` (seconds or an HTTP date, RFC 9110 §10.2.3), ``Cache-Control:
    max-age`` and ``Expires`` (RFC 9111 §5.2.2.1, §5.3), and the RSS ``ttl``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    waits = [ttl] if ttl else []
    if retry := lower.get("retry-after", "").strip():
        waits.append(_seconds_or_date(retry, now))
    control = lower.get("cache-control", "")
    if (match := _MAX_AGE.search(control)) and "no-cache" not in control.lower():
        waits.append(timedelta(seconds=int(match[1])))
    elif expires := lower.get("expires", "").strip():
        waits.append(_seconds_or_date(expires, now, seconds=False))
    found = [w for w in waits if w is not None and w > timedelta(0)]
    return min(max(found), MAX_HINT) if found else None


def _seconds_or_date(
    value: str, now: datetime, *, seconds: bool = True
) -> timedelta | None:
    if seconds and value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when - now


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
    candidates = list(db.scalars(query))
    claimed: list[int] = []
    if candidates:  # one compare-and-set for all of them
        claimed = list(
            db.scalars(
                sa.update(Source)
                .where(Source.id.in_(candidates), free)
                .values(lease_until=now + lease, lease_owner=owner)
                .returning(Source.id)
            )
        )
    if claimed:
        _fail_abandoned_runs(db, claimed, now)
    db.commit()
    if not claimed:
        return []
    return list(
        db.scalars(sa.select(Source).where(Source.id.in_(claimed)).order_by(Source.key))
    )


def _fail_abandoned_runs(db: Session, source_ids: list[int], now: datetime) -> None:
    """A run still "running" on a source whose lease expired made no progress in time:
    its worker stopped or stalled. Record it as failed; the source counts an error."""
    abandoned = db.scalars(
        sa.select(HarvestRun).where(
            HarvestRun.source_id.in_(source_ids), HarvestRun.status == "running"
        )
    ).all()
    for run in abandoned:
        run.status = "error"
        run.error_class = "timeout"
        run.error = "no progress before the lease expired (worker stopped or stalled)"
        run.finished_at = now
        source = db.get(Source, run.source_id)
        if source is not None:
            source.consecutive_errors += 1
            source.last_error = run.error
            source.failing_since = source.failing_since or run.started_at


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
