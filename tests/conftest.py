"""Fixtures: databases (SQLite and PostgreSQL, schema from the migrations), the app,
the sample member sites on loopback, and headless Chromium for browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from helpers import LOOPBACK  # noqa: E402
from helpers import TLS_NAME  # noqa: E402
from helpers import Clock  # noqa: E402
from werkzeug.serving import make_server

from connectors import bounded
from connectors.http import make_http
from feeds.samples import SampleSites
from hub import create_app
from hub import db as hub_db
from hub.cli import main
from hub.harvest import Harvester

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver binds 127.0.0.1 (pytest-socket allows it and 127.0.0.2)."""
    return ("127.0.0.1", 0)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True)
def _no_parsing_workers_kept() -> Iterator[None]:
    """Each test forks its own parsing workers (connectors.bounded) and leaves none:
    a worker forked before a test would not see its monkeypatches."""
    bounded.WORKERS.close()
    yield
    bounded.WORKERS.close()


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("ECOOP_TEST_PG_URL")
    if not url:
        if os.environ.get("ECOOP_REQUIRE_PG"):
            pytest.fail("ECOOP_REQUIRE_PG is set but ECOOP_TEST_PG_URL is not")
        pytest.skip("PostgreSQL tests need ECOOP_TEST_PG_URL (see README)")
    return url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    base = request.getfixturevalue("pg_url")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = hub_db.make_engine(db_url)
    hub_db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: sa.Engine) -> hub_db.sessionmaker[hub_db.Session]:
    return hub_db.make_sessionmaker(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harvester(sessions: hub_db.sessionmaker[hub_db.Session], clock: Clock) -> Harvester:
    """A harvester on the test database: the test's clock, no jitter, loopback."""
    return Harvester(
        sessions,
        make_http(),
        clock=clock,
        owner="test",
        jitter=lambda: 0.0,
        policy=LOOPBACK,
    )


@pytest.fixture(scope="session")
def sample_sites() -> Iterator[SampleSites]:
    """The sample sites as on the session's first moment (``sample_sites.clock()``),
    so what they serve and what tests expect from feeds.samples agree. Built with
    lxml in this process, which forks parsing workers: inside the fork guard, as in
    ``ecoop demo``."""
    with SampleSites(now=datetime.now(UTC), guard=bounded.FORK_GUARD.using) as sites:
        yield sites


@pytest.fixture
def demo_registry(sample_sites: SampleSites, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo registry (real clusters, sources on the sample sites)."""
    monkeypatch.setenv("ECOOP_DEMO_SITES", sample_sites.base_url)
    return ROOT / "config" / "demo.yaml"


@pytest.fixture
def app(db_url: str, engine: sa.Engine, demo_registry: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "ECOOP_REGISTRY": str(demo_registry),
            "ECOOP_SCHEDULER": False,
            "ECOOP_FETCH_ALLOW": ("127.0.0.1/32",),  # the loopback test servers
            # Tests write the index directly, not through harvests: no page cache
            # (tests/test_web_pagecache.py turns it on).
            "ECOOP_PAGE_CACHE_SECONDS": 0,
            "TESTING": True,
        }
    )
    yield app
    app.extensions["ecoop.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ecoop(app: Flask) -> Callable[..., Result]:
    """Run an ``ecoop`` command against the test app.

    Usage: ``ecoop("harvest", "--cluster", "x")``.
    """

    def invoke(*args: str) -> Result:
        return app.test_cli_runner().invoke(main, list(args))

    return invoke


@pytest.fixture
def harvested_app(app: Flask, ecoop: Callable[..., Result]) -> Flask:
    """The app after one harvest of both sample member sites."""
    result = ecoop("harvest")
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def live_server(harvested_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, harvested_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:  # type: ignore[type-arg]
    if not shutil.which(CHROMIUM):
        if os.environ.get("ECOOP_REQUIRE_BROWSER"):
            pytest.fail(f"ECOOP_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for TLS_NAME (openssl CLI): its file and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the TLS test needs the openssl command")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
         str(cert), "-days", "2", "-subj", f"/CN={TLS_NAME}", "-addext",
         f"subjectAltName=DNS:{TLS_NAME}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
