"""/metrics: harvest figures read from the index, request latency by route, one
registry per app; and the harvest events behind `ecoop harvest`'s progress."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from feeds.samples import SampleSites
from feeds.samples import sample_firms
from feeds.samples import sample_offers
from hub import create_app
from hub import metrics
from hub.cli_output import HarvestProgress
from hub.harvest import RunSummary
from hub.metrics import IndexCollector
from hub.models import Source
from hub.scheduler import utcnow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def demo_sources(registry: Path) -> list[str]:
    """The keys of the demo registry's sources, sorted."""
    from hub.registry import load

    return sorted(source.key for source in load(registry).sources)


def test_harvest_figures_come_from_the_index(
    harvested_app: Flask, demo_registry: Path, sample_sites: SampleSites
) -> None:
    samples = scrape(harvested_app.test_client())
    assert value(samples, "ecoop_index_up") == 1
    now = sample_sites.clock()
    expected = {f"{slug}/offers": len(o) for slug, o in sample_offers(now).items()}
    expected |= {f"{slug}/companies": len(f) for slug, f in sample_firms(now).items()}
    for key, items in expected.items():
        assert value(samples, "ecoop_harvest_runs_total", source=key, outcome="ok") == 1
        assert (
            value(samples, "ecoop_harvest_items_total", source=key, outcome="new")
            == items
        )
        assert (
            value(samples, "ecoop_harvest_items_total", source=key, outcome="failed")
            == 0
        )
        assert value(samples, "ecoop_source_last_success_timestamp_seconds", source=key)
    sources = len(demo_sources(demo_registry))
    assert value(samples, "ecoop_harvest_run_duration_seconds_count") == sources
    assert (
        value(samples, "ecoop_harvest_run_duration_seconds_bucket", le="+Inf")
        == sources
    )
    assert value(samples, "ecoop_sources", state="ok") == sources
    assert value(samples, "ecoop_sources", state="failing") == 0
    assert value(samples, "ecoop_sources", state="attention") == 0
    assert value(samples, "ecoop_claim_lag_seconds") == 0


def test_failing_sources_and_errors_are_counted(
    harvested_app: Flask,
    ecoop: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    demo_registry: Path,
) -> None:
    monkeypatch.setenv("ECOOP_DEMO_SITES", "http://127.0.0.1:9")  # nothing listens
    assert ecoop("harvest").exit_code == 1
    with harvested_app.extensions["ecoop.sessions"]() as db:
        wood = db.scalar(sa.select(Source).where(Source.key.startswith("medieno")))
        assert wood is not None
        wood.attention = "HTTP 404 since 2026-11-20"
        db.commit()
    samples = scrape(harvested_app.test_client())
    assert (
        value(
            samples,
            "ecoop_harvest_runs_total",
            source="metalklaster/offers",
            outcome="error",
        )
        == 1
    )
    errors = {
        dict(labels)["error_class"]
        for (name, labels), _ in samples.items()
        if name == "ecoop_harvest_errors_total"
    }
    assert "network" in errors and "unknown" not in errors  # (a crawler: robots)
    failing = len(demo_sources(demo_registry)) - 1  # all but the one to look at
    assert value(samples, "ecoop_sources", state="failing") == failing
    assert value(samples, "ecoop_sources", state="attention") == 1


def test_claim_lag_is_the_wait_of_the_oldest_due_unclaimed_source(
    sessions: sessionmaker[Session], demo_registry: Path
) -> None:
    from hub import index
    from hub.registry import load

    now = utcnow()
    with sessions() as db:
        index.sync_registry(db, load(demo_registry), now)
        first, second, *_ = db.scalars(sa.select(Source).order_by(Source.key)).all()
        first.next_check_at = now - timedelta(seconds=90)
        second.next_check_at = now - timedelta(seconds=300)
        second.lease_until = now + timedelta(minutes=5)  # being harvested: no lag
        db.commit()

    def lag(at: timedelta) -> float:
        collector = IndexCollector(sessions, clock=lambda: now + at)
        [family] = [
            f for f in collector.collect() if f.name == "ecoop_claim_lag_seconds"
        ]
        return float(family.samples[0].value)

    assert lag(timedelta(0)) == 90
    assert lag(timedelta(seconds=10)) == 100
    assert lag(timedelta(minutes=6)) == 300 + 360  # the lease ran out


def test_request_latency_is_measured_by_route_not_by_path(client: FlaskClient) -> None:
    for path in ("/en/", "/pl/", "/en/offers/?q=cnc", "/no/such/page"):
        client.get(path)
    samples = scrape(client)
    home = {"method": "GET", "route": "/<lang>/", "status": "200"}
    assert value(samples, "ecoop_http_request_duration_seconds_count", **home) == 2
    offers = {"method": "GET", "route": "/<lang>/offers/", "status": "200"}
    assert value(samples, "ecoop_http_request_duration_seconds_count", **offers) == 1
    missing = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "ecoop_http_request_duration_seconds_count", **missing) == 1


def test_each_app_has_its_own_registry(client: FlaskClient, app: Flask) -> None:
    client.get("/en/")
    other = create_app(
        {"DATABASE_URL": app.config["DATABASE_URL"], "ECOOP_SCHEDULER": False}
    )
    samples = scrape(other.test_client())
    home = {"method": "GET", "route": "/<lang>/", "status": "200"}
    assert value(samples, "ecoop_http_request_duration_seconds_count", **home) is None
    other.extensions["ecoop.engine"].dispose()


def test_an_unreadable_index_still_answers_the_scrape(app: Flask) -> None:
    app.extensions["ecoop.metrics"].index.sessions = sessionmaker(
        sa.create_engine("sqlite:////nonexistent/dir/index.sqlite3")
    )
    samples = scrape(app.test_client())
    assert value(samples, "ecoop_index_up") == 0
    assert not any(name.startswith("ecoop_harvest") for name, _ in samples)


def test_harvest_events_reach_the_watchers_of_that_harvest_only(
    app: Flask, ecoop: Callable[..., Result], demo_registry: Path
) -> None:
    seen: list[object] = []
    elsewhere: list[object] = []
    sessions = app.extensions["ecoop.sessions"]
    with (
        metrics.watch_harvest(sessions, seen.append, seen.append),
        metrics.watch_harvest(object(), elsewhere.append, elsewhere.append),
    ):
        assert ecoop("harvest").exit_code == 0
    metrics.run_finished(sessions, "after the block")
    keys = demo_sources(demo_registry)
    assert sorted(seen[0]) == keys  # type: ignore[call-overload]
    assert sorted(s.source for s in seen[1:]) == keys  # type: ignore[attr-defined]
    assert elsewhere == []


def test_harvest_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    now = [0.0]
    summary = RunSummary("metal/a\nforged", "ok", new=3)
    bar = io.StringIO()
    progress = HarvestProgress(9, bar, tty=True, clock=lambda: now[0])
    progress.claimed(["metal/a", "metal/b"])
    progress.finished(summary)
    progress.close()
    assert (
        "harvesting [" in bar.getvalue() and " 1/2 metal/a\\nforged" in bar.getvalue()
    )
    assert bar.getvalue().endswith("\r\x1b[K")  # erased: the table starts clean

    plain = io.StringIO()
    progress = HarvestProgress(2, plain, tty=False, after=5.0, clock=lambda: now[0])
    progress.claimed(["metal/a", "metal/b"])
    progress.finished(summary)  # a short run so far: quiet
    now[0] = 6.0
    progress.finished(RunSummary("metal/b", "error"))
    progress.close()
    assert plain.getvalue() == "harvest: 2/2 metal/b error (new 0, updated 0)\n"
