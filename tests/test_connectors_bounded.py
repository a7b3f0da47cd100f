"""Parsing under limits that really stop it (connectors.bounded): a stuck or bloating
parser is killed, its error recorded, the source's offers and other sources kept."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from helpers import LOOPBACK
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import connectors
from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.bounded import FORK_GUARD
from connectors.bounded import ParseLimits
from connectors.bounded import call
from connectors.bounded import crawl
from connectors.http import make_http
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.registry import load

DAY = timedelta(days=1)
QUICK = ParseLimits(timeout=1.0, max_memory=64 * 1024 * 1024)


def test_the_result_comes_back_from_the_child() -> None:
    document = ParsedDocument(items=[RawItem(guid="1", link=None, title="Spawanie")])
    assert call(lambda: document, url="http://x/", limits=QUICK) == document
    assert call(os.getpid, url="http://x/", limits=QUICK) != os.getpid()


@pytest.mark.parametrize("isolate", [True, False], ids=["child", "in-thread"])
def test_what_the_child_emits_reaches_the_sink_in_order_before_its_result(
    isolate: bool,
) -> None:
    received: list[object] = []

    def work(n: int, emit: Callable[[object], None]) -> str:
        for k in range(n):
            emit({"batch": k, "pid": os.getpid()})
        return "done"

    limits = dataclasses.replace(QUICK, isolate=isolate)
    sink = lambda payload: received.append(pickle.loads(payload))  # noqa: E731
    assert call(work, 5, url="http://x/", limits=limits, sink=sink) == "done"
    assert [r["batch"] for r in received] == [0, 1, 2, 3, 4]  # type: ignore[index]
    pids = {r["pid"] for r in received}  # type: ignore[index]
    assert (pids != {os.getpid()}) is isolate


def test_a_child_stopped_after_emitting_is_still_an_error() -> None:
    """Batches already handed over do not make a stuck parse a success: the
    harvester records the error and writes none of them."""
    received: list[bytes] = []

    def work(emit: Callable[[object], None]) -> None:
        emit("first batch")
        time.sleep(60)

    with pytest.raises(ConnectorError) as info:
        call(work, url="http://x/feed", limits=QUICK, sink=received.append)
    assert info.value.error_class == "parse_timeout"
    assert [pickle.loads(r) for r in received] == ["first batch"]


def test_a_parser_that_never_returns_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as info:
        call(time.sleep, 60, url="http://x/feed", limits=QUICK)
    assert info.value.error_class == "parse_timeout"
    assert time.monotonic() - started < 10


def test_a_parser_that_bloats_hits_the_memory_cap() -> None:
    with pytest.raises(ConnectorError) as info:
        call(lambda: bytearray(512 * 1024 * 1024), url="http://x/", limits=QUICK)
    assert info.value.error_class == "too_large"
    assert "64 MB" in info.value.message


def test_a_connector_error_keeps_its_class_and_message() -> None:
    def refuse() -> None:
        raise ParseError("http://x/", "not a feed (looks like html)", "not_a_feed")

    with pytest.raises(ConnectorError) as info:
        call(refuse, url="http://x/", limits=QUICK)
    assert (info.value.error_class, info.value.message) == (
        "not_a_feed",
        "not a feed (looks like html)",
    )


def test_a_crashing_parser_is_that_documents_error() -> None:
    with pytest.raises(ConnectorError) as info:
        call(lambda: os.kill(os.getpid(), signal.SIGKILL), url="x", limits=QUICK)
    assert info.value.error_class == "internal"
    assert "died" in info.value.message


class _SlowWhenAsked:
    """RSS, except that a body containing STALL makes the parser spin forever."""

    source_type = "test-slow"
    accept = "application/rss+xml"

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        while b"STALL" in result.body:
            pass
        return connectors.get_connector("rss").parse(source, result)


# --- a crawl in a child: pages fetched by the parent ------------------------------

SOURCE = Source(key="c/s", cluster="c", type="html", url="http://x/", interval=DAY)
FIRST = FetchResult(url="http://x/", status=200, headers={}, body=b"<html>1</html>")


def page(url: str, *, accept: str) -> FetchResult:
    if url.endswith("/gone"):
        raise FetchError(url, "HTTP 404", "http_status", status=404)
    if url.endswith("/cap"):
        raise PageCapReached(url, "page cap of 1 pages reached")
    return FetchResult(url=url, status=200, headers={}, body=f"<{url}>".encode())


def test_a_crawl_gets_its_pages_from_the_parent_and_their_errors_typed() -> None:
    parent = os.getpid()
    asked: list[tuple[int, str]] = []

    def get(url: str, *, accept: str) -> FetchResult:
        asked.append((os.getpid(), url))
        return page(url, accept=accept)

    def walk(
        source: Source, first: FetchResult, get: GetPage, state: object
    ) -> tuple[int, list[bytes], list[tuple[str, object]]]:
        bodies = [first.body, get("http://x/2", accept="text/html").body]
        errors: list[tuple[str, object]] = []
        for url in ("http://x/gone", "http://x/cap"):
            try:
                get(url, accept="text/html")
            except PageCapReached as e:
                errors.append(("cap", e.error_class))
            except FetchError as e:
                errors.append((e.error_class, e.status))
        return os.getpid(), bodies, errors

    child, bodies, errors = crawl(walk, SOURCE, FIRST, get, {}, limits=QUICK)
    assert child != parent and {pid for pid, _ in asked} == {parent}
    assert bodies == [b"<html>1</html>", b"<http://x/2>"]
    assert errors == [("http_status", 404), ("cap", "too_large")]


def test_time_spent_fetching_is_not_the_crawls_parse_time() -> None:
    def slow_get(url: str, *, accept: str) -> FetchResult:
        time.sleep(0.6)  # two pages: longer than the 1 s budget, but fetching
        return page(url, accept=accept)

    def walk(source: Source, first: FetchResult, get: GetPage, state: object) -> int:
        return len([get(f"http://x/{n}", accept="*/*") for n in range(2)])

    assert crawl(walk, SOURCE, FIRST, slow_get, {}, limits=QUICK) == 2


def test_a_crawl_whose_parsing_never_ends_is_killed_at_the_deadline() -> None:
    def walk(source: Source, first: FetchResult, get: GetPage, state: object) -> None:
        get("http://x/2", accept="*/*")
        while True:  # a pathological page
            pass

    started = time.monotonic()
    with pytest.raises(ConnectorError) as info:
        crawl(walk, SOURCE, FIRST, page, {}, limits=QUICK)
    assert info.value.error_class == "parse_timeout"
    assert time.monotonic() - started < 10


def test_a_crawl_that_bloats_hits_the_memory_cap() -> None:
    def walk(source: Source, first: FetchResult, get: GetPage, state: object) -> None:
        pages = [get("http://x/2", accept="*/*")]
        pages.append(bytearray(512 * 1024 * 1024))  # type: ignore[arg-type]

    with pytest.raises(ConnectorError) as info:
        crawl(walk, SOURCE, FIRST, page, {}, limits=QUICK)
    assert info.value.error_class == "too_large"


def test_a_stuck_parse_loses_nothing_and_stops_no_other_source(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(connectors._REGISTRY, "test-slow", _SlowWhenAsked())
    feed = (
        "<rss version='2.0'><channel><title>t</title><link>https://m.example/</link>"
        "<item><guid>{0}</guid><title>{0} {1}</title></item></channel></rss>"
    )
    httpserver.expect_request("/a").respond_with_data(feed.format("a", "ok"))
    httpserver.expect_request("/b").respond_with_data(feed.format("b", "ok"))
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"a": httpserver.url_for("/a"), "b": httpserver.url_for("/b")},
        type_="test-slow",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    harvester = Harvester(
        sessions, make_http(), clock=clock, policy=LOOPBACK, parse_limits=QUICK
    )
    assert {r.source: r.new for r in harvester.run(due_only=False)} == {
        "metal/a": 1,
        "metal/b": 1,
    }

    httpserver.clear()
    httpserver.expect_request("/a").respond_with_data(feed.format("a", "STALL"))
    httpserver.expect_request("/b").respond_with_data(feed.format("b", "changed"))
    runs = {r.source: r for r in harvester.run(due_only=False)}
    assert (runs["metal/a"].status, runs["metal/a"].error_class) == (
        "error",
        "parse_timeout",
    )
    assert (runs["metal/b"].status, runs["metal/b"].updated) == ("ok", 1)
    with sessions() as db:
        offers = {o.title: o.status for o in db.scalars(sa.select(Offer))}
    assert offers == {"a ok": "active", "b changed": "active"}


def test_no_fork_happens_while_another_thread_is_inside_lxml() -> None:
    inside, forked = threading.Event(), threading.Event()
    leave = threading.Event()

    def lxml_user() -> None:
        with FORK_GUARD.using():
            inside.set()
            leave.wait(10)

    def forker() -> None:
        call(os.getpid, url="x", limits=QUICK)
        forked.set()

    user = threading.Thread(target=lxml_user)
    user.start()
    inside.wait(5)
    fork = threading.Thread(target=forker)
    fork.start()
    assert not forked.wait(0.5)  # waits for the lxml user to leave
    leave.set()
    assert forked.wait(10)
    user.join()
    fork.join()


def test_a_web_request_holds_the_guard_only_while_it_runs(client: FlaskClient) -> None:
    assert client.get("/en/").status_code == 200
    assert client.post("/en/check-feed/", data={}).status_code == 400  # CSRF refusal
    assert FORK_GUARD._users == 0  # every request left, refused ones included
