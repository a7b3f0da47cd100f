"""Prometheus metrics at ``/metrics``, and the harvest's progress events.

Harvest figures are read from the index when scraped, so any web process reports the
whole fleet (every worker, every machine); request latency is measured per process
(prometheus_client multiprocess mode under gunicorn). Reads only; never writes the
index, never blocks a harvest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask import Response
from flask import current_app
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram
from prometheus_client import PlatformCollector
from prometheus_client import ProcessCollector
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import listings
from hub import scheduler
from hub.health import probe_engine
from hub.history import RUN_BUCKETS
from hub.models import HarvestRun
from hub.models import HarvestTotal
from hub.models import Source

log = logging.getLogger(__name__)

# prometheus_client's own switch: set it (to an empty directory, per service start)
# when several processes serve one address, e.g. gunicorn workers.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
ITEM_OUTCOMES = ("new", "updated", "unchanged", "withdrawn", "failed")
STATES = ("ok", "new", "failing", "attention")
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# --- harvest events -----------------------------------------------------------------

Listener = tuple[object, Callable[[list[str]], None], Callable[[Any], None]]
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


def sources_claimed(sessions: object, keys: list[str]) -> None:
    """Called by the harvest once it holds the leases of ``keys``."""
    for owner, on_claimed, _ in _current_listeners():
        if owner is sessions:
            on_claimed(keys)


def run_finished(sessions: object, summary: Any) -> None:
    """Called by the harvest once a run is over (``summary``: a RunSummary)."""
    for owner, _, on_written in _current_listeners():
        if owner is sessions:
            on_written(summary)


@contextlib.contextmanager
def watch_harvest(
    sessions: object,
    on_claimed: Callable[[list[str]], None],
    on_written: Callable[[Any], None],
) -> Iterator[None]:
    """Follow the harvests on ``sessions`` (a sessionmaker) run by this process in
    this block: ``ecoop harvest``'s progress. The callbacks run in the harvesting
    thread; they must be quick and must not raise."""
    listener: Listener = (sessions, on_claimed, on_written)
    with _listeners_lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(listener)


def _current_listeners() -> list[Listener]:
    with _listeners_lock:
        return list(_listeners)


# --- the app side -------------------------------------------------------------------


class Metrics:
    """One app's metrics: its own registry, so two apps (tests) never mix."""

    def __init__(self, app: Flask) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROCESS))
        self.registry = CollectorRegistry()
        self.index = IndexCollector(
            sessionmaker(probe_engine(app), expire_on_commit=False)
        )
        self.registry.register(self.index)
        if not self.multiprocess:  # per-process figures mean nothing summed
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self.requests = Histogram(
            "ecoop_http_request_duration_seconds",
            "Time to answer a request, by route (the URL rule, not the path).",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text a scrape gets: under gunicorn, every worker's request figures."""
        registry = self.registry
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.index)
        return generate_latest(registry)


def init_app(app: Flask) -> None:
    metrics = Metrics(app)
    app.extensions["ecoop.metrics"] = metrics
    # An app-level URL value preprocessor runs before any blueprint's (a language
    # check may abort there) and before every before_request: the clock starts first.
    app.url_value_preprocessor(_start_clock)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _scrape)


def _start_clock(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    request.environ["ecoop.started"] = time.perf_counter()


def _observe(response: Response) -> Response:
    started = request.environ.get("ecoop.started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        current_app.extensions["ecoop.metrics"].requests.labels(
            request.method, route, str(response.status_code)
        ).observe(time.perf_counter() - started)
    return response


def _scrape() -> Response:
    """The Prometheus text exposition; restrict it to the monitoring network in the
    front server (deploy/nginx.conf)."""
    body = current_app.extensions["ecoop.metrics"].exposition()
    response = Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- figures read from the index at scrape time -----------------------------------


class IndexCollector(Collector):
    """Harvest counters, durations, source states and claim lag, from the index.

    Counters are totals over the recorded runs: every process that answers a scrape
    reports the same fleet-wide figures. ``ecoop_index_up`` is 0 when the index
    could not be read (the other families are then left out).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = scheduler.utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "ecoop_index_up", "1 if this scrape could read the index, else 0."
        )
        try:
            with self.sessions() as db:
                families = list(self._families(db, self.clock()))
        except sa.exc.SQLAlchemyError as e:
            log.warning("metrics: the index cannot be read: %s", type(e).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _families(self, db: Session, now: datetime) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "ecoop_harvest_runs",
            "Finished harvest runs, by source and outcome "
            "(ok, not_modified, unchanged, error).",
            labels=["source", "outcome"],
        )
        errors = CounterMetricFamily(
            "ecoop_harvest_errors",
            "Failed harvest runs, by source and error class.",
            labels=["source", "error_class"],
        )
        items = CounterMetricFamily(
            "ecoop_harvest_items",
            "Items seen by harvest runs, by source and outcome "
            "(new, updated, unchanged, withdrawn, failed).",
            labels=["source", "outcome"],
        )
        per_source: dict[str, list[int]] = {}
        for row in _run_totals(db):
            key, status, error_class, count, *sums = tuple(row)
            runs.add_metric([key, status], count)
            if status == "error":
                errors.add_metric([key, error_class or "unknown"], count)
            totals = per_source.setdefault(key, [0] * len(ITEM_OUTCOMES))
            for position, value in enumerate(sums):
                totals[position] += int(value or 0)
        for key, totals in per_source.items():
            for outcome, value in zip(ITEM_OUTCOMES, totals, strict=True):
                items.add_metric([key, outcome], value)
        yield from (runs, errors, items)
        yield _durations(db)
        yield from _source_states(db, now)


def _run_totals(db: Session) -> list[tuple[Any, ...]]:
    """Runs and item sums by source, status and error class: the runs on record plus
    the totals of pruned ones (hub.history)."""
    finished = HarvestRun.status != "running"
    live = db.execute(
        sa.select(
            Source.key,
            HarvestRun.status,
            HarvestRun.error_class,
            sa.func.count(),
            sa.func.sum(HarvestRun.items_new),
            sa.func.sum(HarvestRun.items_updated),
            sa.func.sum(HarvestRun.items_unchanged),
            sa.func.sum(HarvestRun.items_withdrawn),
            sa.func.sum(HarvestRun.items_failed),
        )
        .join(Source, Source.id == HarvestRun.source_id)
        .where(finished)
        .group_by(Source.key, HarvestRun.status, HarvestRun.error_class)
    )
    pruned = db.execute(
        sa.select(
            Source.key,
            HarvestTotal.status,
            HarvestTotal.error_class,
            HarvestTotal.runs,
            HarvestTotal.items_new,
            HarvestTotal.items_updated,
            HarvestTotal.items_unchanged,
            HarvestTotal.items_withdrawn,
            HarvestTotal.items_failed,
        ).join(Source, Source.id == HarvestTotal.source_id)
    )
    merged: dict[tuple[str, str, str | None], list[int]] = {}
    for key, status, error_class, *counts in [*live, *pruned]:
        sums = merged.setdefault((key, status, error_class or None), [0] * 6)
        for position, value in enumerate(counts):
            sums[position] += int(value or 0)
    return [(*key, *sums) for key, sums in merged.items()]


def _seconds_between(db: Session, start: Any, end: Any) -> Any:
    if db.get_bind().dialect.name == "sqlite":
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0
    return sa.extract("epoch", end - start)


def _durations(db: Session) -> HistogramMetricFamily:
    """A histogram summed by the database: one row, whatever the history's size."""
    seconds = _seconds_between(db, HarvestRun.started_at, HarvestRun.finished_at)
    columns = [sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in RUN_BUCKETS]
    row = db.execute(
        sa.select(sa.func.count(), sa.func.sum(seconds), *columns).where(
            HarvestRun.status != "running", HarvestRun.finished_at.is_not(None)
        )
    ).one()
    count, total, *cumulative = (float(value or 0) for value in row)
    for runs, seconds, pruned in db.execute(
        sa.select(HarvestTotal.runs, HarvestTotal.seconds, HarvestTotal.buckets)
    ):
        count, total = count + runs, total + seconds
        cumulative = [
            have + more for have, more in zip(cumulative, pruned, strict=True)
        ]
    buckets: list[tuple[str, float]] = [
        (str(bound), value)
        for bound, value in zip(RUN_BUCKETS, cumulative, strict=True)
    ]
    buckets.append(("+Inf", float(count or 0)))
    return HistogramMetricFamily(
        "ecoop_harvest_run_duration_seconds",
        "Time from claiming a source to recording its run.",
        buckets=buckets,
        sum_value=float(total or 0.0),
    )


def _source_states(db: Session, now: datetime) -> Iterator[Metric]:
    states = GaugeMetricFamily(
        "ecoop_sources",
        "Active sources by state, as the status page shows them "
        "(ok, new, failing, attention: an operator must look).",
        labels=["state"],
    )
    success = GaugeMetricFamily(
        "ecoop_source_last_success_timestamp_seconds",
        "When each active source was last harvested without error (Unix time).",
        labels=["source"],
    )
    counts = dict.fromkeys(STATES, 0)
    for row in listings.list_source_health(db):
        counts[row.state] = counts.get(row.state, 0) + 1
        if row.source.last_success_at is not None:
            success.add_metric([row.source.key], row.source.last_success_at.timestamp())
    for state, count in counts.items():
        states.add_metric([state], count)
    oldest = db.scalar(
        sa.select(sa.func.min(Source.next_check_at)).where(
            Source.active,
            Source.next_check_at <= now,
            sa.or_(Source.lease_until.is_(None), Source.lease_until < now),
        )
    )
    lag = GaugeMetricFamily(
        "ecoop_claim_lag_seconds",
        "How long the oldest due, unclaimed source has waited for a worker "
        "(now - its next_check_at); 0 when none waits.",
    )
    lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield from (states, success, lag)
