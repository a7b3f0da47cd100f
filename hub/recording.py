"""Recording one harvest outcome in the index, with the lease held: the offers and
withdrawals, the run's counts and error, the source's health and its next check.

The decisions that protect offers live here: when absence may withdraw (complete,
sane feeds only), when a source needs attention. No network; no thread of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import Source as SourceSpec
from connectors.http import Validators
from hub import index
from hub import scheduler
from hub import versions
from hub.models import HarvestRun
from hub.models import Source
from hub.prepared import Batch
from hub.prepared import Spool

# A complete feed that shrinks below this share of its last size withdraws nothing.
SHRINK_RATIO = 0.5
SHRINK_MIN_ITEMS = 5
SHRINK_MEMORY = timedelta(days=7)
ATTENTION_AFTER = timedelta(days=3)  # 401/403/404 this long: an operator must look


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What ``ecoop harvest`` prints for one source."""

    source: str
    status: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    failed: int = 0
    error: str | None = None
    error_class: str | None = None
    warning: str | None = None


@dataclasses.dataclass(frozen=True)
class Job:
    """A claimed source as the fetch thread sees it: no ORM object crosses threads."""

    source_id: int
    run_id: int
    spec: SourceSpec
    validators: Validators
    body_hash: str | None
    crawl_state: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def log_fields(self) -> dict[str, object]:
        """What every log line about this job carries (hub.logs)."""
        return {"source": self.spec.key, "run_id": self.run_id}


@dataclasses.dataclass
class Outcome:
    """What the fetch thread found for a job, waiting for the writer. ``result``:
    the fetch's answer without its body (read by then); ``size``: the body's
    length."""

    job: Job
    result: FetchResult | None = None
    size: int = 0
    document: ParsedDocument | None = None
    spool: Spool | None = None  # the prepared offers and profiles of ``document``
    body_hash: str | None = None
    error: ConnectorError | None = None

    def batches(self) -> Iterator[Batch]:
        return iter(self.spool or ())

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def apply(
    db: Session,
    source: Source,
    run: HarvestRun,
    outcome: Outcome,
    now: datetime,
    jitter: float,
    *,
    missing: bool = True,
) -> RunSummary:
    """Record ``outcome`` of ``run``: the offers, withdrawals, the run's counts,
    the source's health and validators, its next check; release the lease.
    ``missing=False``: the caller knows the source has no offer missing from its
    feed already, so an unchanged document has none to count again."""
    result, document = outcome.result, outcome.document
    hint = None
    if outcome.error is not None:
        _record_error(source, run, outcome.error, now)
        if isinstance(outcome.error, FetchError):
            hint = scheduler.server_hint(outcome.error.headers, now)
    else:
        assert result is not None
        run.http_status = source.last_status = result.status
        run.bytes = outcome.size
        source.etag, source.last_modified = result.etag, result.last_modified
        source.body_hash = outcome.body_hash or source.body_hash
        if document is None:  # a 304, or the same bytes as last time
            run.status = "not_modified" if result.not_modified else "unchanged"
            if missing:
                run.items_withdrawn = index.mark_missing(db, source, None, now)
        else:
            _record_items(db, source, run, outcome, now)
        source.last_success_at = now
        source.last_error = source.failing_since = source.attention = None
        source.consecutive_errors = 0
        hint = scheduler.server_hint(
            result.headers, now, document.ttl if document else None
        )
    run.finished_at = now
    source.last_run_at = now
    source.next_check_at = scheduler.next_check_at(
        now,
        timedelta(seconds=source.interval_seconds),
        source.consecutive_errors,
        hint=hint,
        jitter=jitter,
    )
    source.lease_until = source.lease_owner = None
    return RunSummary(
        source.key,
        run.status,
        run.items_new,
        run.items_updated,
        run.items_unchanged,
        run.items_withdrawn,
        run.items_failed,
        run.error,
        run.error_class,
        run.warning,
    )


def _record_items(
    db: Session,
    source: Source,
    run: HarvestRun,
    outcome: Outcome,
    now: datetime,
) -> None:
    document = outcome.document
    assert document is not None
    if document.state is not None:
        source.crawl_state = dict(document.state)
    counts, profiles = index.UpsertCounts(), index.UpsertCounts()
    seen, listed, failed = set(document.kept), set(document.kept), document.skipped
    regroup: set[str] = set()
    for batch in outcome.batches():  # one batch in memory at a time
        counts += index.upsert_offers(db, source, batch.offers, now, regroup=regroup)
        profiles += index.upsert_profiles(db, source, batch.profiles, now)
        seen.update(offer.guid for offer in batch.offers)
        listed.update(profile.guid for profile in batch.profiles)
        failed += batch.failed
    versions.regroup(db, source.id, regroup)
    withdrawn = index.withdraw(db, source, document.deleted, now)
    # a company profile's tombstone withdraws the profile, never the firm's offers
    withdrawn += index.withdraw_profiles(db, source, now, guids=document.deleted)
    if document.finished:  # explicit: the feed will never update again
        withdrawn += index.withdraw_all(db, source, now)
        withdrawn += index.withdraw_profiles(db, source, now, keep=set())
        run.warning = "the feed says it is finished (expired); its offers withdrawn"
    kept = len(document.kept)
    total = counts.total + profiles.total + kept + failed
    # What the document says wins (a crawler that lost pages says False); else YAML.
    declared = document.complete
    complete = bool(source.options.get("complete")) if declared is None else declared
    if complete:
        warning = _insane(db, source, total, now)
        if warning:
            run.warning = warning
        else:
            withdrawn += index.mark_missing(db, source, seen, now)
            withdrawn += index.withdraw_profiles(db, source, now, keep=listed)
    if document.warnings:
        run.warning = "; ".join(filter(None, [run.warning, *document.warnings]))
    run.status = "ok"
    run.items_new = counts.new + profiles.new
    run.items_updated = counts.updated + profiles.updated
    run.items_unchanged = counts.unchanged + profiles.unchanged + kept
    run.items_failed = failed
    run.items_withdrawn = withdrawn


def _insane(db: Session, source: Source, total: int, now: datetime) -> str | None:
    """Why this harvest of a complete feed must not withdraw by absence, if it must
    not: an empty feed, or one under half the size of the last unflagged run.

    A shrink stays flagged until the feed recovers, or until the last unflagged
    run is older than SHRINK_MEMORY: then the smaller feed is the new normal.
    """
    if total == 0:
        return "the feed came back empty; nothing withdrawn"
    last = db.scalar(
        sa.select(
            HarvestRun.items_new
            + HarvestRun.items_updated
            + HarvestRun.items_unchanged
            + HarvestRun.items_failed
        )
        .where(
            HarvestRun.source_id == source.id,
            HarvestRun.status == "ok",
            HarvestRun.warning.is_(None),
            HarvestRun.started_at >= now - SHRINK_MEMORY,
        )
        .order_by(HarvestRun.started_at.desc(), HarvestRun.id.desc())
        .limit(1)
    )
    if last and last >= SHRINK_MIN_ITEMS and total < last * SHRINK_RATIO:
        return f"the feed shrank from {last} to {total} items; nothing withdrawn"
    return None


def _record_error(
    source: Source, run: HarvestRun, error: ConnectorError, now: datetime
) -> None:
    status = getattr(error, "status", None)
    run.status = "error"
    run.error = error.message
    run.error_class = error.error_class
    run.http_status = status
    source.last_status = status
    source.last_error = error.message
    source.consecutive_errors += 1
    source.failing_since = source.failing_since or now
    if status == 410:
        source.attention = "gone: the member site answers 410 for this URL"
    elif status in (401, 403, 404) and now - source.failing_since >= ATTENTION_AFTER:
        source.attention = f"HTTP {status} since {source.failing_since:%Y-%m-%d}"
