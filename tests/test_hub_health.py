"""/healthz and /readyz: liveness without the database, readiness with each check."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from hub import create_app
from hub import db as hub_db
from hub.registry import load


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_app(db_url: str, registry: Path | str) -> Flask:
    return create_app(
        {"DATABASE_URL": db_url, "ECOOP_REGISTRY": str(registry), "TESTING": True}
    )


def test_a_ready_hub_says_so_check_by_check(
    client: FlaskClient, demo_registry: Path
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "registry": True,
    }
    assert body["checks"]["migrations"]["detail"].startswith("at head ")
    sources = len(load(demo_registry).sources)
    assert body["checks"]["registry"]["detail"].startswith(
        f"2 clusters, {sources} sources"
    )


def test_liveness_never_touches_the_database(demo_registry: Path) -> None:
    url = f"postgresql+psycopg://ecoop:x@127.0.0.1:{closed_port()}/none"
    client = make_app(url, demo_registry).test_client()
    alive = client.get("/healthz")
    assert (alive.status_code, alive.get_json()) == (200, {"status": "alive"})
    started = time.monotonic()
    ready = client.get("/readyz")
    assert time.monotonic() - started < 2  # refused at once, never hangs
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert ready.get_json()["status"] == "unready"
    assert not checks["database"]["ok"]
    assert checks["database"]["detail"].startswith("unreachable: ")
    assert not checks["migrations"]["ok"]
    assert checks["registry"]["ok"]  # a fact of its own


def test_a_database_behind_the_migrations_is_not_ready(
    db_url: str, demo_registry: Path
) -> None:
    app = make_app(db_url, demo_registry)  # nothing applied yet
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.get_json()["checks"]["migrations"]
    assert not migrations["ok"]
    assert "run `ecoop db upgrade`" in migrations["detail"]
    assert migrations["detail"].startswith("at none, head is ")
    hub_db.upgrade(app.extensions["ecoop.engine"])
    assert client.get("/readyz").status_code == 200
    app.extensions["ecoop.engine"].dispose()


def test_an_invalid_registry_is_not_ready_until_one_was_loaded(
    engine: sa.Engine, db_url: str, tmp_path: Path, demo_registry: Path
) -> None:
    registry = tmp_path / "clusters.yaml"
    registry.write_text("clusters: []\n", encoding="utf-8")
    client = make_app(db_url, registry).test_client()
    refused = client.get("/readyz")
    assert refused.status_code == 503
    detail = refused.get_json()["checks"]["registry"]["detail"]
    assert detail.startswith(f"invalid: {registry}:1: clusters")

    registry.write_text(
        demo_registry.read_text(encoding="utf-8").replace(
            "extends: clusters.yaml",
            f"extends: {demo_registry.parent / 'clusters.yaml'}",
        ),
        encoding="utf-8",
    )
    assert client.get("/readyz").status_code == 200
    registry.write_text("clusters: [oops\n", encoding="utf-8")
    kept = client.get("/readyz")  # the last good registry stays in force
    assert kept.status_code == 200
    detail = kept.get_json()["checks"]["registry"]["detail"]
    assert "in force; the changed file was refused: " in detail


def test_readiness_logs_only_its_changes(
    demo_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+psycopg://ecoop:x@127.0.0.1:{closed_port()}/none"
    client = make_app(url, demo_registry).test_client()
    with caplog.at_level(logging.INFO, logger="hub.health"):
        for _ in range(3):
            assert client.get("/readyz").status_code == 503
    [record] = [r for r in caplog.records if r.name == "hub.health"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("not ready: database: unreachable: ")
