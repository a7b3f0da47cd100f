"""The page cache (hub.web.pagecache): anonymous pages served again until the index
changes; nothing personal ever shared. Static URLs versioned by content (assets)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask import session
from flask.testing import FlaskClient
from helpers import T0

import hub
from hub import create_app
from hub import index
from hub.models import Cluster
from hub.models import Source
from hub.registry import load
from hub.web import pagecache


@pytest.fixture
def cached_app(db_url: str, engine: sa.Engine, demo_registry: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "ECOOP_REGISTRY": str(demo_registry),
            "ECOOP_SCHEDULER": False,
            "ECOOP_PAGE_CACHE_SECONDS": 60,
            "TESTING": True,
        }
    )

    def visit() -> str:
        session["seen"] = True  # as a CSRF token or a sign-in would
        return "welcome"

    app.add_url_rule("/visit", "visit", visit)
    with app.app_context():
        db = app.extensions["ecoop.sessions"]()
        index.sync_registry(db, load(demo_registry), T0)
        db.commit()
        db.close()
    yield app
    app.extensions["ecoop.engine"].dispose()


@pytest.fixture(autouse=True)
def _fresh_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagecache, "VERSION_SECONDS", 0.0)


def _rename_cluster(app: Flask, name: str, *, harvested: bool) -> None:
    with app.extensions["ecoop.sessions"]() as db:
        cluster = db.scalar(sa.select(Cluster).where(Cluster.slug == "metalklaster"))
        assert cluster is not None
        cluster.name = {**cluster.name, "en": name}
        if harvested:
            source = db.scalar(sa.select(Source).where(Source.cluster_id == cluster.id))
            assert source is not None
            source.last_run_at = T0 + timedelta(hours=1)
        db.commit()


def test_an_anonymous_page_is_served_again_until_a_harvest_changes_the_index(
    cached_app: Flask,
) -> None:
    client = cached_app.test_client()
    first = client.get("/en/")
    assert first.headers["X-Cache"] == "miss"
    _rename_cluster(cached_app, "Renamed Cluster", harvested=False)
    again = client.get("/en/")
    assert again.headers["X-Cache"] == "hit"
    assert again.get_data() == first.get_data()
    assert again.headers["Content-Security-Policy"]  # the security headers came along
    _rename_cluster(cached_app, "Renamed Cluster", harvested=True)
    fresh = client.get("/en/")
    assert fresh.headers["X-Cache"] == "miss"
    assert "Renamed Cluster" in fresh.get_data(as_text=True)


def test_pages_expire_after_the_configured_time(
    cached_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cached_app.test_client()
    client.get("/en/")
    cache = cached_app.extensions["ecoop.page_cache"]
    monkeypatch.setattr(cache, "ttl", 0.0)
    assert client.get("/en/").headers["X-Cache"] == "miss"


def test_the_etag_of_a_kept_page_answers_304(cached_app: Flask) -> None:
    client = cached_app.test_client()
    etag = client.get("/en/offers/").headers["ETag"]
    response = client.get("/en/offers/", headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_nothing_personal_is_kept_or_shared(cached_app: Flask) -> None:
    client = cached_app.test_client()
    assert "X-Cache" not in client.get("/visit").headers  # it set a session cookie
    assert "X-Cache" not in client.get("/visit").headers
    anonymous = cached_app.test_client()
    assert anonymous.get("/en/").headers["X-Cache"] == "miss"  # kept for anonymous...
    visitor = cached_app.test_client()
    visitor.set_cookie("session", "someone's")  # ...never served to a session
    assert "X-Cache" not in visitor.get("/en/").headers  # a visitor with a cookie
    assert "X-Cache" not in visitor.get("/en/").headers


def test_live_operational_pages_are_never_kept(cached_app: Flask) -> None:
    client = cached_app.test_client()
    for path in ("/en/status/", "/healthz", "/readyz", "/api/v1/sources"):
        client.get(path)
        assert "X-Cache" not in client.get(path).headers, path


def test_static_urls_carry_the_files_version_and_are_kept_a_year(
    client: FlaskClient,
) -> None:
    css = (Path(hub.__file__).parent / "web" / "static" / "site.css").read_bytes()
    version = hashlib.sha256(css).hexdigest()[:12]
    page = client.get("/en/").get_data(as_text=True)
    assert f"/static/site.css?v={version}" in page
    with client.get(f"/static/site.css?v={version}") as kept:
        assert kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with client.get("/static/site.css") as plain:
        assert plain.headers["Cache-Control"] == "public, max-age=3600"
