"""Harvest history stays bounded: old runs are deleted, their counts kept, so the
metrics' counters never go back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from test_hub_metrics import scrape

from hub import history
from hub import index
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import HarvestTotal
from hub.registry import load
from hub.settings import SettingsError
from hub.settings import load_settings

DAY = timedelta(days=1)
RSS = (
    "<rss version='2.0'><channel><title>t</title><link>https://m.example/</link>"
    "<item><guid isPermaLink='false'>{0}</guid><title>Oferta {0}</title></item>"
    "</channel></rss>"
)


@pytest.fixture
def three_runs(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    """Three harvests ten days apart: new, unchanged, then an error."""
    registry = write_registry(tmp_path / "c.yaml", {"feed": httpserver.url_for("/f")})
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    httpserver.expect_request("/f").respond_with_data(RSS.format("a"))
    harvester.run(due_only=False)
    clock.now += 10 * DAY
    harvester.run(due_only=False, force=True)
    clock.now += 10 * DAY
    httpserver.clear()
    httpserver.expect_request("/f").respond_with_data("gone", status=500)
    harvester.run(due_only=False)


def _harvest_samples(app: Flask) -> dict[object, float]:
    return {
        key: value
        for key, value in scrape(app.test_client()).items()
        if key[0].startswith("ecoop_harvest")
    }


@pytest.mark.usefixtures("three_runs")
def test_pruned_runs_still_count_in_the_metrics(
    app: Flask, sessions: sessionmaker[Session], clock: Clock
) -> None:
    before = _harvest_samples(app)
    with sessions() as db:
        assert history.prune(db, clock.now, timedelta(days=8)) == 2
        db.commit()
        assert db.scalar(sa.select(sa.func.count()).select_from(HarvestRun)) == 1
    assert _harvest_samples(app) == before
    with sessions() as db:  # a second pruner finds nothing left to count
        assert history.prune(db, clock.now, timedelta(days=8)) == 0
        db.commit()
        assert db.scalar(sa.select(sa.func.sum(HarvestTotal.runs))) == 2
    assert _harvest_samples(app) == before


@pytest.mark.usefixtures("three_runs")
def test_the_worker_prunes_by_the_retention_it_was_given(
    sessions: sessionmaker[Session], harvester: Harvester
) -> None:
    harvester.history = timedelta(days=15)
    harvester.tick()
    with sessions() as db:
        left = db.scalars(sa.select(HarvestRun.status).order_by(HarvestRun.id)).all()
    assert left[:2] == ["ok", "error"]  # the first run is gone, the tick's own came


def test_a_retention_shorter_than_the_shrink_check_is_refused() -> None:
    with pytest.raises(SettingsError, match="ECOOP_RUN_HISTORY_DAYS"):
        load_settings({"ECOOP_RUN_HISTORY_DAYS": "3"})
