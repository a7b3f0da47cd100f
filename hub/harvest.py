"""One run of one source under its lease, recorded as a HarvestRun.

    claimed source ─> connector fetch (conditional GET) ─> connector.parse ─> raw items
        ─> normalize.to_offer ─> index.upsert_offers ─> HarvestRun + next_check_at

Only this module knows every stage. A failure becomes data (a run with status "error");
it never escapes to stop other sources, and it never touches harvested offers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

import requests
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import connectors
from connectors.base import ConnectorError
from connectors.base import Source as SourceSpec
from connectors.http import HttpLimits
from connectors.http import fetch
from hub import index
from hub import scheduler
from hub.models import HarvestRun
from hub.models import Source
from hub.normalize import to_offer
from hub.registry import Registry

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What ``ecoop harvest`` prints for one source."""

    source: str
    status: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    error: str | None = None


class Harvester:
    """Harvests sources claimed from the index. The same object runs in the web process,
    in ``ecoop worker`` and in ``ecoop harvest``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        http: requests.Session,
        *,
        limits: HttpLimits | None = None,
        clock: Callable[[], datetime] = scheduler.utcnow,
        owner: str | None = None,
        registry_loader: Callable[[], Registry | None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.limits = limits or HttpLimits()
        self.clock = clock
        self.owner = owner or scheduler.worker_id()
        self.registry_loader = registry_loader

    def tick(self) -> list[RunSummary]:
        """Harvest every source that is due now (the scheduled job)."""
        if self.registry_loader is not None:
            registry = self.registry_loader()
            if registry is not None:
                with self.sessions() as db:
                    index.sync_registry(db, registry, self.clock())
        return self.run(due_only=True)

    def run(self, *, due_only: bool, keys: list[str] | None = None) -> list[RunSummary]:
        """Claim sources and harvest them.

        Due ones, or all / ``keys`` when not ``due_only``.
        """
        with self.sessions() as db:
            claimed = scheduler.claim(
                db, self.clock(), self.owner, due_only=due_only, keys=keys
            )
            return [self.run_source(db, source) for source in claimed]

    def run_source(self, db: Session, source: Source) -> RunSummary:
        """Harvest one claimed source, record the run, release the lease."""
        started = self.clock()
        run = HarvestRun(source_id=source.id, started_at=started, status="running")
        spec = SourceSpec(
            key=source.key,
            cluster=source.cluster.slug,
            type=source.type,
            url=source.url,
            interval=timedelta(seconds=source.interval_seconds),
            options=source.options,
        )
        try:
            summary = self._harvest(db, source, spec, run)
        except ConnectorError as e:
            db.rollback()
            summary = self._fail(run, source, e.message, getattr(e, "status", None))
        except Exception as e:  # a bug or a library crash must not stop other sources
            log.exception("harvest of %s crashed", source.key)
            db.rollback()
            summary = self._fail(
                run, source, f"internal error: {type(e).__name__}: {e}", None
            )
        now = self.clock()
        run.finished_at = now
        source.last_run_at = now
        source.next_check_at = scheduler.next_check_at(
            now, spec.interval, source.consecutive_errors
        )
        source.lease_until = None
        source.lease_owner = None
        db.add_all([run, source])
        db.commit()
        log.info(
            "harvested %s: %s new=%d updated=%d unchanged=%d failed=%d%s",
            source.key,
            summary.status,
            summary.new,
            summary.updated,
            summary.unchanged,
            summary.failed,
            f" error={summary.error!r}" if summary.error else "",
        )
        return summary

    def _harvest(
        self, db: Session, source: Source, spec: SourceSpec, run: HarvestRun
    ) -> RunSummary:
        connector = connectors.get_connector(source.type)
        result = fetch(
            self.http,
            source.url,
            accept=connector.accept,
            etag=source.etag,
            last_modified=source.last_modified,
            limits=self.limits,
        )
        run.http_status = result.status
        run.bytes = len(result.body)
        source.etag, source.last_modified = result.etag, result.last_modified
        if result.not_modified:
            run.status = "not_modified"
            self._succeed(source)
            return RunSummary(source.key, "not_modified")
        items = connector.parse(spec, result)
        now = self.clock()
        offers, failed = [], 0
        for item in items:
            try:
                offers.append(to_offer(spec, item, now))
            except Exception:  # one bad item never loses the others
                log.exception(
                    "item %r of %s could not be normalised", item.guid, source.key
                )
                failed += 1
        counts = index.upsert_offers(db, source, offers, now)
        run.status = "ok"
        run.items_new, run.items_updated = counts.new, counts.updated
        run.items_unchanged, run.items_failed = counts.unchanged, failed
        self._succeed(source)
        return RunSummary(
            source.key, "ok", counts.new, counts.updated, counts.unchanged, failed
        )

    def _succeed(self, source: Source) -> None:
        source.last_success_at = self.clock()
        source.last_error = None
        source.consecutive_errors = 0

    def _fail(
        self, run: HarvestRun, source: Source, message: str, status: int | None
    ) -> RunSummary:
        run.status = "error"
        run.error = message
        run.http_status = status
        source.last_error = message
        source.consecutive_errors += 1
        return RunSummary(source.key, "error", error=message)
