"""Offer identity and lifecycle, server hints, source health and leases, against
loopback servers on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import LOOPBACK
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from werkzeug import Request
from werkzeug import Response

import connectors
from connectors.base import ParsedDocument
from connectors.base import RawItem
from connectors.http import make_http
from connectors.netguard import NetworkPolicy
from hub import index
from hub import scheduler
from hub import search_segments
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Source
from hub.registry import Watcher
from hub.registry import load

H = timedelta(hours=1)


def rss(*items: tuple[str, str], extra: str = "") -> bytes:
    """An RSS 2.0 feed of (guid, title) items."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://metal.example/{guid}</link></item>"
        for guid, title in items
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>t</title><link>https://metal.example/</link>{extra}{body}"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def register(
    tmp_path: Path, sessions: sessionmaker[Session], clock: Clock
) -> Callable[..., None]:
    def register(sources: dict[str, str], options: str = "") -> None:
        registry = load(
            write_registry(tmp_path / "clusters.yaml", sources, options=options)
        )
        with sessions() as db:
            index.sync_registry(db, registry, clock())

    return register


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as db:
        return {o.guid: o.status for o in db.scalars(sa.select(Offer))}


def source_row(sessions: sessionmaker[Session], key: str = "metal/feed") -> Source:
    with sessions() as db:
        row = db.scalar(sa.select(Source).where(Source.key == key))
        assert row is not None
        return row


def serve(httpserver: HTTPServer, body: bytes, **kwargs: object) -> None:
    httpserver.clear()
    httpserver.expect_request("/feed").respond_with_data(body, **kwargs)  # type: ignore[arg-type]


def test_duplicate_ids_in_one_document_get_distinct_stable_keys(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(httpserver, rss(("7", "Frezowanie"), ("7", "Toczenie"), ("8", "Gięcie")))
    register({"feed": httpserver.url_for("/feed")})
    [run] = harvester.run(due_only=False)
    assert run.new == 3
    assert sorted(statuses(sessions)) == ["7", "7#2", "8"]
    clock.now += H
    [again] = harvester.run(due_only=False, force=True)
    assert (again.new, again.unchanged) == (0, 3)


def test_a_complete_feed_withdraws_after_three_absences_over_a_day(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")}, "        complete: true\n")
    serve(httpserver, rss(("a", "A"), ("b", "B")))
    harvester.run(due_only=False)
    serve(httpserver, rss(("a", "A")))
    for step in (H, H):  # missing twice within hours: still active
        clock.now += step
        harvester.run(due_only=False)
    clock.now += H  # a third absence, but only 2 h after the first one
    harvester.run(due_only=False)
    assert statuses(sessions) == {"a": "active", "b": "active"}
    clock.now += timedelta(hours=23)  # fourth absence, > 24 h since the first
    [run] = harvester.run(due_only=False)
    assert run.withdrawn == 1
    assert statuses(sessions) == {"a": "active", "b": "withdrawn"}
    serve(httpserver, rss(("a", "A"), ("b", "B")))  # it comes back
    clock.now += H
    harvester.run(due_only=False)
    assert statuses(sessions) == {"a": "active", "b": "active"}


def test_a_window_feed_never_withdraws_by_absence(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, rss(("a", "A"), ("b", "B")))
    harvester.run(due_only=False)
    serve(httpserver, rss(("c", "C")))
    for _ in range(5):
        clock.now += timedelta(hours=12)
        harvester.run(due_only=False)
    assert statuses(sessions) == {"a": "active", "b": "active", "c": "active"}


def test_a_tombstone_withdraws_at_once(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, rss(("a", "A"), ("b", "B")))
    harvester.run(due_only=False)
    tombstone = (
        "<at:deleted-entry xmlns:at='http://purl.org/atompub/tombstones/1.0' "
        "ref='b' when='2026-11-27T12:00:00Z'/>"
    )
    serve(httpserver, rss(("a", "A"), extra=tombstone))
    clock.now += H
    [run] = harvester.run(due_only=False)
    assert run.withdrawn == 1
    assert statuses(sessions) == {"a": "active", "b": "withdrawn"}


@pytest.mark.parametrize(
    ("second", "warning"),
    [
        (rss(), "the feed came back empty; nothing withdrawn"),
        (rss(("a", "A")), "the feed shrank from 6 to 1 items; nothing withdrawn"),
    ],
)
def test_an_empty_or_shrunken_complete_feed_withdraws_nothing(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
    second: bytes,
    warning: str,
) -> None:
    register({"feed": httpserver.url_for("/feed")}, "        complete: true\n")
    serve(httpserver, rss(*[(g, g.upper()) for g in "abcdef"]))
    harvester.run(due_only=False)
    serve(httpserver, second)
    for _ in range(4):
        clock.now += timedelta(hours=12)
        [run] = harvester.run(due_only=False, force=True)
        assert run.warning == warning and run.withdrawn == 0
    assert set(statuses(sessions).values()) == {"active"}


def test_retry_after_on_503_is_honoured(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, b"busy", status=503, headers={"Retry-After": "7200"})
    [run] = harvester.run(due_only=False)
    assert (run.status, run.error_class) == ("error", "http_status")
    assert source_row(sessions).next_check_at == clock.now + timedelta(hours=2)


def test_cache_control_and_ttl_raise_the_next_check_but_never_past_a_day(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, rss(("a", "A")), headers={"Cache-Control": "max-age=10800"})
    harvester.run(due_only=False)
    assert source_row(sessions).next_check_at == clock.now + timedelta(hours=3)
    serve(httpserver, rss(("a", "A"), extra="<ttl>100000</ttl>"))
    clock.now += H
    harvester.run(due_only=False)
    assert source_row(sessions).next_check_at == clock.now + timedelta(hours=24)


def test_a_gone_source_needs_attention_and_is_still_polled(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, b"gone", status=410)
    harvester.run(due_only=False)
    row = source_row(sessions)
    assert row.attention is not None and "410" in row.attention
    assert row.next_check_at == clock.now + 2 * H  # backed off, not dropped
    serve(httpserver, rss(("a", "A")))
    clock.now += 2 * H
    [run] = harvester.tick()
    assert run.status == "ok" and source_row(sessions).attention is None


def test_a_404_needs_attention_only_after_days(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, b"no", status=404)
    harvester.run(due_only=False)
    assert source_row(sessions).attention is None
    clock.now += timedelta(days=3)
    harvester.run(due_only=False)
    assert source_row(sessions).attention == "HTTP 404 since 2026-11-27"


def test_an_abandoned_run_fails_when_its_lease_expires(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(httpserver, rss(("a", "A")))
    register({"feed": httpserver.url_for("/feed")})
    with sessions() as db:  # a worker claims and starts, then dies
        [source] = scheduler.claim(db, clock(), "dead-worker")
        db.add(HarvestRun(source_id=source.id, started_at=clock(), status="running"))
        db.commit()
    assert harvester.run(due_only=False) == []  # leased: nobody else touches it
    clock.now += scheduler.DEFAULT_LEASE + timedelta(seconds=1)
    [run] = harvester.run(due_only=False)
    assert run.status == "ok"
    with sessions() as db:
        runs = list(db.scalars(sa.select(HarvestRun).order_by(HarvestRun.id)))
    assert [(r.status, r.error_class) for r in runs] == [
        ("error", "timeout"),
        ("ok", None),
    ]


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.mark.parametrize("per_host", [1, 2])
def test_fetches_to_one_host_respect_the_per_host_limit(
    threaded_server: HTTPServer,
    register: Callable[..., None],
    sessions: sessionmaker[Session],
    clock: Clock,
    per_host: int,
) -> None:
    httpserver = threaded_server
    active, peak, lock = 0, 0, threading.Lock()

    def handler(request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1
        return Response(rss(("x", request.path)))

    httpserver.expect_request("/feed", query_string=None).respond_with_handler(handler)
    register({f"s{i}": httpserver.url_for(f"/feed?i={i}") for i in range(4)})
    harvester = Harvester(
        sessions,
        make_http(),
        clock=clock,
        policy=LOOPBACK,
        pool_size=4,
        per_host=per_host,
        jitter=lambda: 0.0,
    )
    assert [r.status for r in harvester.run(due_only=False)] == ["ok"] * 4
    assert peak == per_host


def test_a_host_with_many_sources_does_not_hold_back_the_other_hosts(
    threaded_server: HTTPServer,
    register: Callable[..., None],
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    """One slow host's four sources take one pool thread, one after another; the
    other host's source is fetched meanwhile, not after the pool's threads have
    all waited their turn at the slow host."""
    slow = threaded_server
    fast = HTTPServer(host="127.0.0.2", port=0)
    fast.start()
    arrivals: list[tuple[str, float]] = []

    def handler(name: str, delay: float) -> Callable[[Request], Response]:
        def respond(request: Request) -> Response:
            arrivals.append((name, time.monotonic()))
            time.sleep(delay)
            return Response(rss((name, name)))

        return respond

    slow.expect_request("/feed").respond_with_handler(handler("slow", 0.5))
    fast.expect_request("/feed").respond_with_handler(handler("fast", 0.0))
    try:
        # Claimed in key order: the slow host's four first, the other host last.
        sources = {f"s{i}": slow.url_for(f"/feed?i={i}") for i in range(4)}
        register({**sources, "t": fast.url_for("/feed")})
        harvester = Harvester(
            sessions,
            make_http(),
            clock=clock,
            policy=NetworkPolicy(allow=("127.0.0.1/32", "127.0.0.2/32")),
            pool_size=2,
            per_host=1,
            jitter=lambda: 0.0,
        )
        assert [r.status for r in harvester.run(due_only=False)] == ["ok"] * 5
    finally:
        fast.clear()
        fast.stop()
    # Before the slow host's second request, whichever of the two lanes started
    # first (before: four slow ones, then the other host's).
    order = [name for name, _ in sorted(arrivals, key=lambda a: a[1])]
    assert sorted(order[:2]) == ["fast", "slow"], order


def test_registry_edits_apply_at_the_next_tick(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(httpserver, rss(("a", "A")))
    path = write_registry(
        tmp_path / "clusters.yaml", {"one": httpserver.url_for("/feed")}
    )
    watcher = Watcher(path)
    harvester = Harvester(
        sessions,
        make_http(),
        clock=clock,
        policy=LOOPBACK,
        registry_loader=watcher.poll,
        jitter=lambda: 0.0,
    )
    assert [r.source for r in harvester.tick()] == ["metal/one"]
    write_registry(path, {"two": httpserver.url_for("/feed")})  # one removed, two added
    assert [r.source for r in harvester.tick()] == ["metal/two"]
    path.write_text("clusters: [", encoding="utf-8")  # broken: refused, nothing changes
    clock.now += 2 * H
    assert [r.source for r in harvester.tick()] == ["metal/two"]
    assert watcher.error is not None


def test_offers_past_their_valid_through_expire(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(httpserver, rss(("a", "A"), ("b", "B")))
    register({"feed": httpserver.url_for("/feed")})
    harvester.run(due_only=False)
    with sessions() as db:
        db.execute(
            sa.update(Offer)
            .where(Offer.guid == "a")
            .values(valid_through=clock.now + H)
        )
        db.commit()
        assert index.expire_offers(db, clock.now) == 0
        assert index.expire_offers(db, clock.now + 2 * H) == 1
    assert statuses(sessions) == {"a": "expired", "b": "active"}


class _PageConnector:
    """A connector that scrapes pages (as html/jsonld ones will): robots.txt applies."""

    source_type = "test-pages"
    accept = "text/html"
    scrapes = True

    def parse(self, source: object, result: object) -> ParsedDocument:
        return ParsedDocument(items=[RawItem(guid="p1", link=None, title="Page")])


def test_a_scraping_connector_obeys_robots_txt(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(connectors._REGISTRY, "test-pages", _PageConnector())
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /private/\n"
    )
    httpserver.expect_request("/private/offers.html").respond_with_data("<html/>")
    httpserver.expect_request("/public/offers.html").respond_with_data("<html/>")
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {
            "closed": httpserver.url_for("/private/offers.html"),
            "open": httpserver.url_for("/public/offers.html"),
        },
        type_="test-pages",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    harvester = Harvester(sessions, make_http(), clock=clock, policy=LOOPBACK)
    runs = {r.source: r for r in harvester.run(due_only=False)}
    assert (runs["metal/closed"].status, runs["metal/closed"].error_class) == (
        "error",
        "robots",
    )
    assert (runs["metal/open"].status, runs["metal/open"].new) == ("ok", 1)
    paths = [request.path for request, _ in httpserver.log]
    assert "/private/offers.html" not in paths
    assert paths.count("/robots.txt") == 1  # one fetch per origin


def test_a_shortened_interval_applies_at_the_next_tick(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(httpserver, rss(("a", "A")))
    path = write_registry(
        tmp_path / "clusters.yaml", {"feed": httpserver.url_for("/feed")}
    )
    watcher = Watcher(path)
    harvester = Harvester(
        sessions,
        make_http(),
        clock=clock,
        policy=LOOPBACK,
        registry_loader=watcher.poll,
        jitter=lambda: 0.0,
    )
    assert len(harvester.tick()) == 1
    clock.now += timedelta(minutes=20)
    assert harvester.tick() == []  # due in an hour
    write_registry(path, {"feed": httpserver.url_for("/feed")}, interval="15m")
    assert [r.source for r in harvester.tick()] == ["metal/feed"]
    assert source_row(sessions).next_check_at == clock.now + timedelta(minutes=15)


def test_a_tick_indexes_the_segments_new_offers_reach(
    httpserver: HTTPServer,
    register: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("segments are PostgreSQL's (hub.search_segments)")
    monkeypatch.setattr(search_segments, "SEGMENT", 2)
    register({"feed": httpserver.url_for("/feed")})
    serve(httpserver, rss(*[(f"g{n}", f"Offer {n}") for n in range(12)]))
    harvester.tick()
    with sessions() as db:
        oldest, newest, segments = search_segments.layout(db)
    assert newest is not None and newest - oldest == 11
    assert segments[0][0] < oldest and newest < segments[-1][1]
