"""The crawler contract (connectors.base.Crawler) through the harvester: further pages
fetched through the guarded path, state kept between runs, unchanged pages' items
counted as seen, the page cap, robots.txt on every page."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import connectors
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import ParsedDocument
from connectors.base import RawItem
from connectors.base import Source
from hub import index
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.registry import load


class _ListCrawler:
    """Test crawler: the first document lists ``path lastmod`` lines; each page is one
    item whose title is the page's text. Pages whose lastmod did not change since
    the last run are not fetched again: their items are ``kept``."""

    source_type = "test-crawl"
    accept = "text/plain"
    scrapes = True

    def crawl(
        self,
        source: Source,
        first: FetchResult,
        get: GetPage,
        state: Mapping[str, Any],
    ) -> ParsedDocument:
        base = source.url.rsplit("/", 1)[0]
        pages, items, kept, warnings = {}, [], [], []
        for line in first.body.decode().split():
            path, lastmod = line.split("@")
            known = state.get(path)
            if known and known["lastmod"] == lastmod:
                pages[path] = known
                kept.append(known["guid"])
                continue
            try:
                page = get(f"{base}/{path}", accept="text/plain")
            except FetchError as e:
                warnings.append(f"{path}: {e.message}")
                continue
            pages[path] = {"lastmod": lastmod, "guid": path}
            items.append(RawItem(guid=path, link=None, title=page.body.decode()))
        return ParsedDocument(
            items=items,
            kept=tuple(kept),
            state=pages,
            complete=not warnings,
            warnings=tuple(warnings),
        )


@pytest.fixture(autouse=True)
def _crawler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connectors._REGISTRY, "test-crawl", _ListCrawler())


def _register(
    tmp_path: Path, sessions: sessionmaker[Session], clock: Clock, url: str, extra: str
) -> None:
    registry = write_registry(
        tmp_path / "clusters.yaml", {"list": url}, type_="test-crawl", options=extra
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())


def _serve(httpserver: HTTPServer, listing: str, pages: dict[str, str]) -> None:
    httpserver.clear()
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /private\n"
    )
    httpserver.expect_request("/list").respond_with_data(listing)
    for path, text in pages.items():
        httpserver.expect_request(f"/{path}").respond_with_data(text)


def _offers(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str]]:
    with sessions() as db:
        return {o.guid: (o.title, o.status) for o in db.scalars(sa.select(Offer))}


def _fetched(httpserver: HTTPServer) -> list[str]:
    return [r.path for r, _ in httpserver.log if r.path not in ("/robots.txt", "/list")]


def test_only_changed_pages_are_fetched_again_and_kept_items_stay(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    _register(
        tmp_path,
        sessions,
        clock,
        httpserver.url_for("/list"),
        "        complete: true\n",
    )
    _serve(httpserver, "a@1 b@1 c@1", {"a": "Spawanie", "b": "Gięcie", "c": "Cięcie"})
    [first] = harvester.run(due_only=False)
    assert (first.status, first.new) == ("ok", 3)
    assert sorted(_fetched(httpserver)) == ["/a", "/b", "/c"]

    _serve(httpserver, "a@1 b@2 c@1 ", {"b": "Gięcie blach"})
    [second] = harvester.run(due_only=False)
    assert _fetched(httpserver) == ["/b"]
    assert (second.updated, second.unchanged) == (1, 2)
    assert _offers(sessions) == {
        "a": ("Spawanie", "active"),
        "b": ("Gięcie blach", "active"),
        "c": ("Cięcie", "active"),
    }
    with sessions() as db:  # kept items are seen: nothing counted missing
        assert db.scalar(sa.select(sa.func.max(Offer.missing_runs))) == 0


def test_a_failed_page_loses_its_items_only_and_is_shown_on_the_run(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    _register(
        tmp_path, sessions, clock, httpserver.url_for("/list"), "        max_pages: 2\n"
    )
    _serve(
        httpserver,
        "a@1 private@1 b@1 c@1",
        {"a": "Spawanie", "private": "x", "b": "Gięcie", "c": "Cięcie"},
    )
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 2)
    assert "/private" not in _fetched(httpserver)  # robots.txt, on every page
    assert run.warning is not None
    assert "private" in run.warning and "page cap of 2 pages" in run.warning
    with sessions() as db:
        stored = db.scalar(sa.select(HarvestRun.warning))
    assert stored == run.warning
