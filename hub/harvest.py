"""Harvest runs: claimed sources fetched in parallel and written one by one, each
recorded as a HarvestRun.

    claim (lease) ─> fetch (conditional GET; a pool, per-host limit) ─> same body? stop
        ─> connector.stream ─> Preparer: keys, normalise          (a parsing worker, a
                 process of connectors.bounded; its batches spooled by the fetch thread)
        ─> recording.apply: upsert / withdraw / mark_missing, HarvestRun, next check
                                                                   (the calling thread)

Only this module knows every stage. A failure becomes data (a run with status "error"
and an error class); it never escapes to stop other sources and never touches the
offers already harvested.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import random
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import connectors
from connectors import bounded
from connectors import paging
from connectors.base import MAX_PAGES
from connectors.base import Connector
from connectors.base import ConnectorError
from connectors.base import Crawler
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParsedDocument
from connectors.base import Source as SourceSpec
from connectors.base import handed
from connectors.bounded import FORK_GUARD
from connectors.bounded import ParseLimits
from connectors.http import HttpLimits
from connectors.http import Validators
from connectors.http import fetch
from connectors.http import remove_stale_bodies
from connectors.netguard import NetworkPolicy
from connectors.robots import MAX_ROBOTS_BYTES
from connectors.robots import RobotsCache
from connectors.transport import Connections
from hub import history
from hub import index
from hub import logs
from hub import metrics
from hub import recording
from hub import scheduler
from hub import search_segments
from hub.arrivals import Arrivals
from hub.models import HarvestRun
from hub.models import Source
from hub.prepared import Preparer
from hub.prepared import Spool
from hub.prepared import may_hold_nul
from hub.recording import Job
from hub.recording import Outcome
from hub.recording import RunSummary
from hub.registry import Registry

log = logging.getLogger(__name__)

# Runs older than the history kept are deleted at most this often (_prune).
PRUNE_EVERY = timedelta(hours=1)
ROBOTS_AGENT = "ecoop-hub"  # the product token robots.txt groups match (RFC 9309)
# Outcomes written in one transaction: at most this many batches of items (_groups).
GROUP_BATCHES = 20
# A fetched body bigger than this goes on arriving into a temporary file, from which
# its parsing worker reads it: the harvester never holds it (it held a 100k-offer
# profile feed's 172 MB). Smaller ones go through the pipe (~7,000 offers of the
# bench's feeds).
SPILL_BYTES = 8 * 1024 * 1024
MAX_INTERNAL = 300  # chars of an internal error's message kept in the run (_internal)


class Harvester:
    """Harvests sources claimed from the index.

    The same object runs in the web process, in ``ecoop worker`` and in
    ``ecoop harvest``. ``pool_size`` sources are harvested at once, at most
    ``per_host`` of one host (``_lanes``).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        http: requests.Session,
        *,
        limits: HttpLimits | None = None,
        parse_limits: ParseLimits | None = None,
        policy: NetworkPolicy | None = None,
        clock: Callable[[], datetime] = scheduler.utcnow,
        owner: str | None = None,
        registry_loader: Callable[[], Registry | None] | None = None,
        pool_size: int = 4,
        per_host: int = 1,
        jitter: Callable[[], float] = lambda: random.uniform(0, scheduler.JITTER),
        history: timedelta | None = None,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.limits = limits or HttpLimits()
        self.parse_limits = parse_limits or ParseLimits()
        self.policy = policy  # None: public addresses only
        self.robots = RobotsCache(self._fetch_robots, user_agent=ROBOTS_AGENT)
        self.clock = clock
        self.owner = owner or scheduler.worker_id()
        self.registry_loader = registry_loader
        self.pool_size = pool_size
        self.per_host = per_host
        self.jitter = jitter
        self.history = history  # None: keep every run
        self._pruned_at: datetime | None = None
        self._hosts: dict[str, threading.Semaphore] = {}
        self._hosts_lock = threading.Lock()
        # Open connections for the fetches of a run, closed when the run ends.
        self.connections = Connections()
        if removed := remove_stale_bodies():
            log.info("removed %d fetched bodies a stopped harvester left", removed)

    @functools.cached_property
    def pg_vectors(self) -> bool:
        """Whether the index is PostgreSQL's: the parsing workers then build each
        offer's search vector (hub.pg_vector)."""
        with self.sessions() as db:  # no connection: the bind's dialect
            return db.get_bind().dialect.name == "postgresql"

    def close(self) -> None:
        """Stop the parsing workers (connectors.bounded.WORKERS) once the harvests
        are over; the next harvest forks new ones. Left alone, they would wait
        their idle time (connectors.workers.IDLE)."""
        self.connections.close()
        bounded.WORKERS.close()

    def __enter__(self) -> Harvester:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def tick(self) -> list[RunSummary]:
        """The scheduled job: reload the registry if it changed, expire offers whose
        valid-through passed, harvest every source that is due."""
        with self.sessions() as db:
            if self.registry_loader is not None:
                registry = self.registry_loader()
                if registry is not None:
                    try:
                        index.sync_registry(db, registry, self.clock())
                    except sa.exc.IntegrityError:  # another worker synced it first
                        db.rollback()
                        index.sync_registry(db, registry, self.clock())
            index.expire_offers(db, self.clock())
            self._prune(db)
            bind = db.get_bind()
        summaries = self.run(due_only=True)
        self._refresh_search(bind)
        return summaries

    def _refresh_search(self, bind: sa.Engine | sa.Connection) -> None:
        """Index the segments of ids new offers reached (hub.search_segments,
        PostgreSQL): a failure is logged, the next tick tries again."""
        engine = bind.engine if isinstance(bind, sa.Connection) else bind
        try:
            search_segments.refresh(engine)
        except sa.exc.DBAPIError:
            log.exception("search: the segment indexes were not refreshed")

    def _prune(self, db: Session) -> None:
        """Delete runs older than ``history`` (their counts kept), once an hour."""
        now = self.clock()
        if self.history is None or (
            self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY
        ):
            return
        self._pruned_at = now
        try:
            deleted = history.prune(db, now, self.history)
            db.commit()
        except sa.exc.IntegrityError:  # another worker added the same totals first
            db.rollback()
            return
        if deleted:
            log.info("pruned %d harvest runs older than %s", deleted, self.history)

    def run(
        self, *, due_only: bool, keys: list[str] | None = None, force: bool = False
    ) -> list[RunSummary]:
        """Claim sources (the due ones, or all / ``keys``) and harvest them.

        Without ``keys``, at most four rounds of the pool are claimed at once, so no
        lease runs out while its source waits in the queue; the next tick takes the
        rest (to harvest every source now, pass their keys). ``force`` sends no
        validators and re-reads an unchanged body.
        """
        with self.sessions() as db:
            claimed = scheduler.claim(
                db,
                self.clock(),
                self.owner,
                due_only=due_only,
                keys=keys,
                limit=len(keys) if keys else self.pool_size * 4,
            )
            jobs = self._start(db, claimed, force)
            db.commit()
            metrics.sources_claimed(self.sessions, [job.spec.key for job in jobs])
            summaries = []
            arrivals = Arrivals(len(jobs))
            with ThreadPoolExecutor(max_workers=max(1, self.pool_size)) as pool:
                for lane in self._lanes(jobs):
                    pool.submit(self._lane, lane, pool, arrivals.put)
                while arrivals.left:
                    heavy, light = arrivals.take()
                    written = []
                    for group in _groups([*heavy, *light]):
                        try:
                            written += self._write_together(db, group)
                        finally:
                            for outcome in group:
                                outcome.close()
                    for summary in written:
                        metrics.run_finished(self.sessions, summary)
                    summaries += written
        # Kept open between runs, they would be held idle for minutes, after the
        # member site closed its end. A run in progress meanwhile loses nothing:
        # its connections in use are closed when they come back.
        self.connections.close()
        return sorted(summaries, key=lambda s: s.source)

    def _lanes(self, jobs: list[Job]) -> list[list[Job]]:
        """The jobs dealt into at most ``per_host`` lanes per host, in their order.
        A lane's fetches follow each other (``_lane``): a host with many sources
        holds one pool thread per lane, never the whole pool waiting for its turn
        while other hosts' jobs queue behind."""
        lanes: dict[tuple[str, int], list[Job]] = {}
        counts: dict[str, int] = {}
        for job in jobs:
            host = _host(job.spec.url)
            n = counts[host] = counts.get(host, -1) + 1
            lanes.setdefault((host, n % max(1, self.per_host)), []).append(job)
        return list(lanes.values())

    def _lane(
        self, lane: list[Job], pool: ThreadPoolExecutor, put: Callable[[Any], None]
    ) -> None:
        """Fetch the lane's jobs one after another on this thread, and ``put`` each
        outcome. A new body to read hands the rest of the lane on to the pool
        first: the next fetch waits for a free thread, not for this read, so one
        host's documents are parsed at once up to the pool's size while its
        fetches stay one at a time. Unchanged sources (a 304, the same bytes) just
        follow each other here, with no handoff between threads."""
        try:
            for i, job in enumerate(lane):
                with logs.context(**job.log_fields):
                    outcome, read = self._get(job)
                    if read is None:
                        put(outcome)
                        continue
                    if i + 1 < len(lane):
                        pool.submit(self._lane, lane[i + 1 :], pool, put)
                    put(read())
                    return
        except BaseException as e:  # _get and read turn every Exception into data
            put(e)
            raise

    # --- stages --------------------------------------------------------------------

    def _start(self, db: Session, sources: list[Source], force: bool) -> list[Job]:
        """A running HarvestRun and a Job for each source: one INSERT for all, its
        rows as parameters, not objects. Each id comes back with its source's
        (sources are claimed once each): asked in the parameters' order instead,
        SQLAlchemy sends SQLite one INSERT per row (an unchanged harvest is mostly
        such bookkeeping; ``bench/harvest.py --phases``)."""
        if not sources:
            return []
        now = self.clock()
        inserted = db.execute(
            sa.insert(HarvestRun).returning(HarvestRun.source_id, HarvestRun.id),
            [
                {
                    "source_id": source.id,
                    "started_at": now,
                    "status": "running",
                    "owner": self.owner,
                }
                for source in sources
            ],
        )
        run_ids = {source_id: run_id for source_id, run_id in inserted}
        return [self._job(source, run_ids[source.id], force) for source in sources]

    def _job(self, source: Source, run_id: int, force: bool) -> Job:
        # A crawler's or a paged feed's first document may be unchanged while the
        # pages it leads to are not: those always read it.
        whole = hasattr(connectors.get_connector(source.type), "crawl") or bool(
            (source.crawl_state or {}).get(paging.PAGED)
        )
        return Job(
            source_id=source.id,
            run_id=run_id,
            spec=SourceSpec(
                key=source.key,
                cluster=source.cluster.slug,
                type=source.type,
                url=source.url,
                interval=timedelta(seconds=source.interval_seconds),
                options=source.options,
            ),
            validators=Validators()
            if force or whole
            else Validators(source.etag, source.last_modified),
            body_hash=None if force or whole else source.body_hash,
            crawl_state={} if force else dict(source.crawl_state or {}),
        )

    def try_source(self, spec: SourceSpec) -> Outcome:
        """The fetch, parse and normalise stage for ``spec`` alone, as a first run
        would see it (no validators, no state), with the same guards; nothing is
        claimed or written (``ecoop clusters try``)."""
        return self._fetch(
            Job(
                source_id=0,
                run_id=0,
                spec=spec,
                validators=Validators(),
                body_hash=None,
            )
        )

    def _fetch(self, job: Job) -> Outcome:
        """Fetch, parse and normalise one source. Runs in a pool thread: no database."""
        outcome, read = self._get(job)
        return outcome if read is None else read()

    def _get(self, job: Job) -> tuple[Outcome, Callable[[], Outcome] | None]:
        """Fetch one source; its outcome, and how to read the body when it is new
        (None: nothing to read; a 304, the same bytes, an error)."""
        outcome = Outcome(job)
        connector = connectors.get_connector(job.spec.type)
        with _failures(outcome):
            if getattr(connector, "scrapes", False):  # pages, not a feed: RFC 9309
                verdict = self.robots.check(job.spec.url)
                if not verdict.allowed:
                    raise ConnectorError(job.spec.url, verdict.reason, "robots")
            result = self._fetch_url(
                job.spec.url,
                accept=connector.accept,
                validators=job.validators,
                spill=SPILL_BYTES,
            )
            read = None
            try:
                # The outcome waits for the writer without the body: a 100k-offer
                # feed's 110 MB would stay in memory while its offers are written.
                outcome.result = dataclasses.replace(result, body=b"", body_path=None)
                outcome.size, outcome.body_hash = _digest(result)
                if not result.not_modified and outcome.body_hash != job.body_hash:
                    read = functools.partial(self._read, connector, outcome, result)
            finally:
                if read is None and result.body_path is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(result.body_path)  # nothing to read in it
            return outcome, read
        return outcome, None

    def _read(self, connector: Any, outcome: Outcome, result: FetchResult) -> Outcome:
        """Parse and normalise a fetched body (``result``, the outcome's, with its
        body or the file holding it, deleted after) and the pages it leads to in a
        parsing worker (a deadline and a memory cap that hold), which hands its
        batches to the outcome's spool."""
        job = outcome.job
        with _failures(outcome), _deleted(result.body_path):
            outcome.spool = Spool()
            run = _Run(job.spec, self.clock(), outcome.spool, self.pg_vectors)
            if hasattr(connector, "crawl"):
                outcome.document = self._crawl(connector, job, result, run)
            else:
                outcome.document = paging.follow(
                    job.spec.url,
                    self._parse(connector, result, run),
                    self._page_reader(connector, job, run),
                )
        return outcome

    def _write_together(self, db: Session, outcomes: list[Outcome]) -> list[RunSummary]:
        """Record outcomes in one transaction: three SELECTs and one commit for all
        of them, not for each. An unchanged harvest is mostly outcomes with no
        offers to write (a 304, the same bytes, an error); documents that came in
        while the writer wrote others are written together too (``_groups``): a
        first harvest commits less often, and SQLite's FTS5 index gets fewer,
        larger segments to merge. Should that fail, each is written on its own,
        with ``_write``'s handling of errors."""
        if len(outcomes) == 1:
            return [self._write(db, outcomes[0])]
        sources = {
            source.id: source
            for source in db.scalars(
                sa.select(Source)
                .where(Source.id.in_([o.job.source_id for o in outcomes]))
                .execution_options(populate_existing=True)
            )
        }
        runs = {
            run.id: run
            for run in db.scalars(
                sa.select(HarvestRun).where(
                    HarvestRun.id.in_([o.job.run_id for o in outcomes])
                )
            )
        }
        missing = index.sources_with_missing(db, list(sources))
        summaries, applied = [], []
        try:
            for outcome in outcomes:
                job = outcome.job
                source, run = sources.get(job.source_id), runs.get(job.run_id)
                with logs.context(**job.log_fields):
                    if source is None or run is None or not self._holds(source, job):
                        summaries.append(_lease_lost(job))
                        continue
                    now, jitter = self.clock(), self.jitter()
                    summaries.append(
                        recording.apply(
                            db,
                            source,
                            run,
                            outcome,
                            now,
                            jitter,
                            missing=source.id in missing,
                        )
                    )
                    applied.append((outcome, summaries[-1]))
            db.commit()
        except Exception:
            log.exception("writing %d harvests together failed", len(outcomes))
            db.rollback()
            return [self._write(db, outcome) for outcome in outcomes]
        for outcome, summary in applied:
            with logs.context(**outcome.job.log_fields):
                _log_written(summary)
        return summaries

    def _holds(self, source: Source, job: Job) -> bool:
        if source.lease_owner == self.owner:
            return True
        log.warning(
            "lease on %s lost before its results were written; dropped", job.spec.key
        )
        return False

    def _write(self, db: Session, outcome: Outcome) -> RunSummary:
        """Record one outcome in the index, if this worker still holds the lease;
        what is logged meanwhile names its source."""
        with logs.context(**outcome.job.log_fields):
            return self._record(db, outcome)

    def _record(self, db: Session, outcome: Outcome) -> RunSummary:
        job = outcome.job
        source = db.get(Source, job.source_id, populate_existing=True)
        run = db.get(HarvestRun, job.run_id)
        if source is None or run is None or not self._holds(source, job):
            db.rollback()
            return _lease_lost(job)
        try:
            summary = recording.apply(
                db, source, run, outcome, self.clock(), self.jitter()
            )
        except Exception as e:  # e.g. a database error: the run still gets recorded
            log.exception("writing the harvest of %s failed", job.spec.key)
            db.rollback()
            source = db.get(Source, job.source_id, populate_existing=True)
            run = db.get(HarvestRun, job.run_id)
            assert source is not None and run is not None
            outcome = Outcome(job, error=_internal(job.spec.url, e))
            summary = recording.apply(
                db, source, run, outcome, self.clock(), self.jitter()
            )
        db.commit()
        _log_written(summary)
        return summary

    def _crawl(
        self, connector: Any, job: Job, first: FetchResult, run: _Run
    ) -> ParsedDocument:
        """A crawler's run in a parsing worker (connectors.bounded.crawl): its pages
        are fetched here, through ``GetPage``; its parsing and preparing, all pages
        together, has the parse limits of one document."""
        document, run.seen = bounded.crawl(
            _crawled,
            job.spec,
            first,
            self._page_getter(job, getattr(connector, "scrapes", False)),
            job.crawl_state,
            connector,
            run.now,
            run.seen,
            run.pg_vectors,
            limits=self.parse_limits,
            sink=run.spool,
        )
        return document

    def _parse(self, connector: Any, result: FetchResult, run: _Run) -> ParsedDocument:
        """One document parsed and prepared in a parsing worker: a deadline and a
        memory cap that hold (connectors.bounded)."""
        document, run.seen = bounded.call(
            _parsed,
            connector,
            run.spec,
            result,
            run.now,
            run.seen,
            run.pg_vectors,
            url=result.url,
            limits=self.parse_limits,
            sink=run.spool,
        )
        return document

    def _page_reader(self, connector: Any, job: Job, run: _Run) -> paging.ReadPage:
        """How a paged feed's next pages are read: fetched like the first (with the
        run's page cap) and parsed like it."""
        get = self._page_getter(job, scrapes=False)

        def read(url: str) -> ParsedDocument:
            return self._parse(connector, get(url, accept=connector.accept), run)

        return read

    def _page_getter(self, job: Job, scrapes: bool) -> GetPage:
        """The ``GetPage`` a crawler gets for one run: the same guards as the first
        fetch, robots.txt for scraping connectors, and the run's page cap."""
        cap = min(int(job.spec.options.get("max_pages", MAX_PAGES)), MAX_PAGES)
        fetched = 0

        def get(url: str, *, accept: str) -> FetchResult:
            nonlocal fetched
            if scrapes:
                verdict = self.robots.check(url)
                if not verdict.allowed:
                    raise FetchError(url, verdict.reason, "robots")
            if fetched >= cap:
                raise PageCapReached(url, f"page cap of {cap} pages reached")
            fetched += 1
            return self._fetch_url(url, accept=accept)

        return get

    def _fetch_robots(self, url: str) -> FetchResult:
        limits = dataclasses.replace(self.limits, max_bytes=MAX_ROBOTS_BYTES)
        return self._fetch_url(url, accept="text/plain", limits=limits)

    def _fetch_url(
        self,
        url: str,
        *,
        accept: str,
        validators: Validators | None = None,
        limits: HttpLimits | None = None,
        spill: int | None = None,
    ) -> FetchResult:
        """Every fetch of a run: in a slot of its host (``per_host``), with no fork
        of a parsing worker meanwhile, over the run's kept-alive connections."""
        with self._host_slot(url), FORK_GUARD.using():
            return fetch(
                self.http,
                url,
                accept=accept,
                validators=validators,
                limits=limits or self.limits,
                policy=self.policy,
                connections=self.connections,
                spill=spill,
            )

    def _host_slot(self, url: str) -> AbstractContextManager[object]:
        host = _host(url)
        with self._hosts_lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.per_host)
            return self._hosts[host]


@dataclasses.dataclass
class _Run:
    """What the documents of one run share: the source, the clock reading their
    offers are normalised at, the keys of the pages read so far, the spool."""

    spec: SourceSpec
    now: datetime
    spool: Spool
    pg_vectors: bool  # PostgreSQL's index: the offers come with their vectors
    seen: dict[str, int] = dataclasses.field(default_factory=dict)


# --- in the parsing worker: what is sent to it is data (connectors.bounded) ----------


def _parsed(
    connector: Connector,
    spec: SourceSpec,
    result: FetchResult,
    now: datetime,
    seen: dict[str, int],
    pg_vectors: bool,
    emit: bounded.Emit,
) -> tuple[ParsedDocument, dict[str, int]]:
    """One document, its items prepared as the connector reads them (a big feed's
    are never all in memory) and emitted to the run's spool: the document without
    them, and the keys seen with this page (``seen`` updated: the worker has a
    copy of the run's, which comes back)."""
    preparer = Preparer(
        spec, now, seen, emit, pg_vectors=pg_vectors, nul_free=_nul_free(result)
    )
    document = connectors.stream(connector, spec, result, preparer)
    preparer.finish()
    return document, seen


def _nul_free(result: FetchResult) -> bool:
    """Whether the fetched body (in memory, or in the file it was spilled to) can
    give no item a NUL character (hub.prepared.may_hold_nul)."""
    if result.body_path is None:
        return not may_hold_nul(result.body)
    with open(result.body_path, "rb") as file:
        return not may_hold_nul(file)


def _crawled(
    spec: SourceSpec,
    first: FetchResult,
    get: GetPage,
    state: Mapping[str, Any],
    connector: Crawler,
    now: datetime,
    seen: dict[str, int],
    pg_vectors: bool,
    emit: bounded.Emit,
) -> tuple[ParsedDocument, dict[str, int]]:
    """A crawler's run, all its pages, prepared as ``_parsed`` prepares one."""
    preparer = Preparer(spec, now, seen, emit, pg_vectors=pg_vectors)
    document = handed(connector.crawl(spec, first.loaded(), get, state), preparer)
    preparer.finish()
    return document, seen


def _groups(outcomes: list[Outcome]) -> Iterator[list[Outcome]]:
    """``outcomes`` in groups to write in one transaction each: at most
    GROUP_BATCHES batches of items (hub.prepared.BATCH_SIZE) in a group, so a
    transaction stays bounded (a document of more batches is a group alone)."""
    group: list[Outcome] = []
    batches = 0
    for outcome in outcomes:
        size = outcome.spool.batches if outcome.spool is not None else 0
        if group and batches + size > GROUP_BATCHES:
            yield group
            group, batches = [], 0
        group.append(outcome)
        batches += size
    if group:
        yield group


def _digest(result: FetchResult) -> tuple[int, str | None]:
    """The body's length and SHA-256 (None for a 304), read from its file if it
    was spilled there."""
    if result.not_modified:
        return 0, None
    if result.body_path is None:
        return len(result.body), hashlib.sha256(result.body).hexdigest()
    with open(result.body_path, "rb") as file:
        digest = hashlib.file_digest(file, "sha256")
        return file.tell(), digest.hexdigest()


@contextlib.contextmanager
def _deleted(path: str | None) -> Iterator[None]:
    """The file at ``path``, if any, deleted when the block ends."""
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@contextlib.contextmanager
def _failures(outcome: Outcome) -> Iterator[None]:
    """A failure in the block becomes the outcome's error: it never escapes to stop
    other sources."""
    try:
        yield
    except ConnectorError as e:
        outcome.error = e
    except Exception as e:  # a bug or a library crash must not stop other sources
        log.exception("harvest of %s crashed", outcome.job.spec.key)
        outcome.error = _internal(outcome.job.spec.url, e)


def _internal(url: str, error: Exception) -> ConnectorError:
    """A failure of the hub's own (a bug, a library's crash, the database refusing a
    write) as a run's error: its type and the first line of its message, at most
    MAX_INTERNAL chars; the traceback is in the log. A database error says what the
    driver said: SQLAlchemy's message adds the statement and its parameters, which
    the public status page and API showed (the schema, offers' text)."""
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    first = lines[0][:MAX_INTERNAL] if lines else ""
    return ConnectorError(
        url, f"internal error: {type(error).__name__}: {first}", "internal"
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _lease_lost(job: Job) -> RunSummary:
    return RunSummary(job.spec.key, "error", error="lease lost", error_class="timeout")


def _log_written(summary: RunSummary) -> None:
    log.info(
        "harvested %s: %s new=%d updated=%d unchanged=%d withdrawn=%d failed=%d%s",
        summary.source,
        summary.status,
        summary.new,
        summary.updated,
        summary.unchanged,
        summary.withdrawn,
        summary.failed,
        f" error={summary.error!r}" if summary.error else "",
    )
