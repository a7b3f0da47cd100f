"""Parsing under limits that really stop it (connectors.bounded): a stuck or bloating
parser is killed, its error recorded, the source's offers and other sources kept; the
parsing workers (connectors.workers) live across documents, one at a time each."""

from __future__ import annotations

import dataclasses
import gc
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

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
from connectors import workers
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
from connectors.bounded import WORKERS
from connectors.bounded import Emit
from connectors.bounded import ParseLimits
from connectors.bounded import call
from connectors.bounded import crawl
from connectors.http import make_http
from connectors.workers import Pool
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.registry import load

DAY = timedelta(days=1)
QUICK = ParseLimits(timeout=1.0, max_memory=64 * 1024 * 1024)


class Received:
    """A sink: what the worker handed over, unpickled, less what it took back."""

    def __init__(self, delay: float = 0.0) -> None:
        self.objects: list[object] = []
        self.delay = delay

    def add(self, payload: bytes) -> None:
        time.sleep(self.delay)
        self.objects.append(pickle.loads(payload))

    def retract(self, count: int) -> None:
        del self.objects[len(self.objects) - count :]


# What the tests send to a worker is data: module-level functions, pickled by name.


def echo(obj: object) -> object:
    return obj


def emit_batches(n: int, emit: Emit) -> str:
    for k in range(n):
        emit({"batch": k, "pid": os.getpid()})
    return "done"


def emit_take_back_emit(emit: Emit) -> str:
    for k in range(3):
        emit(f"first reading {k}")
    emit.retract(2)
    emit("second reading")
    return "done"


def emit_then_stall(emit: Emit) -> None:
    emit("first batch")
    time.sleep(60)


def refuse() -> None:
    raise ParseError("http://x/", "not a feed (looks like html)", "not_a_feed")


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pid_then_sleep(emit: Emit) -> None:
    emit(os.getpid())
    time.sleep(60)


def pid_then_bloat(emit: Emit) -> bytearray:
    emit(os.getpid())
    return bytearray(512 * 1024 * 1024)


def pid_then_exit(emit: Emit) -> NoReturn:
    emit(os.getpid())
    os._exit(3)


_HOARD: list[bytes] = []  # in a worker: what earlier documents left behind


def hoard(size: int) -> int:
    _HOARD.append(b"x" * size)
    return os.getpid()


def children() -> set[int]:
    """This process's child processes, zombies included."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        if int(after_name[1]) == os.getpid():  # state, then the parent's pid
            found.add(int(stat.parent.name))
    return found


def emitted_pid(document: Callable[[Emit], object], pool: Pool | None = None) -> int:
    """The pid ``document`` ran in, which must fail; its error must be a
    ConnectorError (raised again by the caller)."""
    received = Received()
    with pytest.raises(ConnectorError):
        call(document, url="http://x/", limits=QUICK, sink=received, pool=pool)
    [pid] = received.objects
    return int(pid)


def test_the_result_comes_back_from_the_child() -> None:
    document = ParsedDocument(items=[RawItem(guid="1", link=None, title="Spawanie")])
    assert call(echo, document, url="http://x/", limits=QUICK) == document
    assert call(os.getpid, url="http://x/", limits=QUICK) != os.getpid()


@pytest.mark.parametrize("isolate", [True, False], ids=["child", "in-thread"])
def test_what_the_child_emits_reaches_the_sink_in_order_before_its_result(
    isolate: bool,
) -> None:
    sink = Received()
    limits = dataclasses.replace(QUICK, isolate=isolate)
    assert call(emit_batches, 5, url="http://x/", limits=limits, sink=sink) == "done"
    assert [r["batch"] for r in sink.objects] == [0, 1, 2, 3, 4]  # type: ignore[index]
    pids = {r["pid"] for r in sink.objects}  # type: ignore[index]
    assert (pids != {os.getpid()}) is isolate


@pytest.mark.parametrize("isolate", [True, False], ids=["child", "in-thread"])
def test_what_the_child_takes_back_leaves_the_sink(isolate: bool) -> None:
    """A reader that gives up half-way and reads again another way takes back what
    it handed over: the sink ends with the second reading only."""
    sink = Received()
    limits = dataclasses.replace(QUICK, isolate=isolate)
    assert (
        call(emit_take_back_emit, url="http://x/", limits=limits, sink=sink) == "done"
    )
    assert sink.objects == ["first reading 0", "second reading"]


def test_the_time_the_sink_takes_is_not_the_workers() -> None:
    """A slow spool (a full disk's writes) does not time out a parse: 5 batches
    that take the sink 0.3 s each, under a 1 s deadline."""
    sink = Received(delay=0.3)
    assert call(emit_batches, 5, url="http://x/", limits=QUICK, sink=sink) == "done"
    assert len(sink.objects) == 5


def test_a_child_stopped_after_emitting_is_still_an_error() -> None:
    """Batches already handed over do not make a stuck parse a success: the
    harvester records the error and writes none of them."""
    received = Received()
    with pytest.raises(ConnectorError) as info:
        call(emit_then_stall, url="http://x/feed", limits=QUICK, sink=received)
    assert info.value.error_class == "parse_timeout"
    assert received.objects == ["first batch"]


def test_a_parser_that_never_returns_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as info:
        call(time.sleep, 60, url="http://x/feed", limits=QUICK)
    assert info.value.error_class == "parse_timeout"
    assert time.monotonic() - started < 10


def stall_in_a_named_place() -> None:
    time.sleep(60)


def test_a_parser_stopped_at_the_deadline_prints_where_it_was(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ConnectorError) as info:
        call(stall_in_a_named_place, url="http://x/feed", limits=QUICK)
    assert info.value.error_class == "parse_timeout"
    err = capfd.readouterr().err  # the worker's stderr is the parent's
    assert "Fatal Python error: Aborted" in err
    assert "in stall_in_a_named_place" in err


def busy(parent: workers.Parent) -> NoReturn:
    """Work, as workers.Pool runs it, that never ends."""
    time.sleep(60)
    raise AssertionError("unreachable")


def test_a_worker_that_does_not_take_its_document_is_not_waited_for() -> None:
    pool = Pool(FORK_GUARD.forking)
    try:
        with pytest.raises(workers.TimedOut), pool.worker(QUICK.max_memory) as worker:
            worker.send(("run", (busy, ())))
            # Busy with that, it reads nothing more: a document larger than the pipe
            # holds can only wait, and waits until its deadline.
            started = time.monotonic()
            worker.send(("run", (echo, (b"x" * 4 * 1024 * 1024,))), started + 0.5)
        assert 0.5 <= time.monotonic() - started < 5
        assert pool.pids() == []  # dropped when the send failed
    finally:
        pool.close()


class _FinalizedIn:
    """Cyclic garbage that writes which process finalized it."""

    def __init__(self, path: Path) -> None:
        self.path, self.cycle = path, self

    def __del__(self) -> None:
        with self.path.open("a") as out:
            out.write(f"{os.getpid()}\n")


def test_a_worker_never_finalizes_what_its_parent_left_to_collect(
    tmp_path: Path,
) -> None:
    record = tmp_path / "finalized"
    pool = Pool(FORK_GUARD.forking)
    gc.disable()  # the garbage waits for a collection: the parent's, not the worker's
    try:
        _FinalizedIn(record)
        assert call(gc.collect, url="x", limits=QUICK, pool=pool) >= 0
        assert not gc.isenabled()  # as the parent left it
    finally:
        gc.enable()
        pool.close()
    gc.collect()
    assert record.read_text().split() == [str(os.getpid())]


class _Kept:
    """An object a long-running process keeps from its start-up."""


def _kept_in_sight() -> int:
    """How many _Kept objects this process's collector still walks."""
    return sum(isinstance(o, _Kept) for o in gc.get_objects())


def test_a_worker_fork_leaves_what_its_parent_froze_frozen() -> None:
    """A long-running hub freezes its start-up objects (hub.collector.settle); a
    parsing worker's fork must not thaw them, nor leave collections off. The
    worker freezes what it inherited too."""
    pool = Pool(FORK_GUARD.forking)
    kept = _Kept()
    gc.freeze()
    try:
        assert call(_kept_in_sight, url="x", limits=QUICK, pool=pool) == 0
        assert _kept_in_sight() == 0
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        pool.close()
    assert _kept_in_sight() == 1 and kept is not None


def test_a_parser_that_bloats_hits_the_memory_cap() -> None:
    with pytest.raises(ConnectorError) as info:
        call(bytearray, 512 * 1024 * 1024, url="http://x/", limits=QUICK)
    assert info.value.error_class == "too_large"
    assert "64 MB" in info.value.message


def test_a_connector_error_keeps_its_class_and_message() -> None:
    worker = call(os.getpid, url="http://x/", limits=QUICK)
    with pytest.raises(ConnectorError) as info:
        call(refuse, url="http://x/", limits=QUICK)
    assert (info.value.error_class, info.value.message) == (
        "not_a_feed",
        "not a feed (looks like html)",
    )
    # the document's own error: its worker takes the next one
    assert call(os.getpid, url="http://x/", limits=QUICK) == worker


def test_a_crashing_parser_is_that_documents_error() -> None:
    with pytest.raises(ConnectorError) as info:
        call(kill_self, url="x", limits=QUICK)
    assert info.value.error_class == "internal"
    assert "died (signal SIGKILL)" in info.value.message


# --- parsing workers live across documents ----------------------------------------


def test_consecutive_documents_are_parsed_by_the_same_worker() -> None:
    pids = [call(os.getpid, url="http://x/", limits=QUICK) for _ in range(3)]
    assert len(set(pids)) == 1 and pids[0] != os.getpid()
    assert WORKERS.pids() == pids[:1]


def test_a_worker_that_timed_out_is_killed_and_replaced() -> None:
    worker = call(os.getpid, url="http://x/", limits=QUICK)
    assert emitted_pid(pid_then_sleep) == worker  # the timeout hit a reused worker
    assert worker not in children()  # killed and reaped: no zombie
    replacement = call(os.getpid, url="http://x/", limits=QUICK)
    assert replacement != worker and WORKERS.pids() == [replacement]


def test_the_memory_cap_holds_on_a_reused_worker_and_the_next_document_parses() -> None:
    worker = call(os.getpid, url="http://x/", limits=QUICK)
    received = Received()
    with pytest.raises(ConnectorError) as info:
        call(pid_then_bloat, url="http://x/", limits=QUICK, sink=received)
    assert info.value.error_class == "too_large"
    assert received.objects == [worker]
    assert worker not in children()  # a worker that ran out of memory is not kept
    document = ParsedDocument(items=[RawItem(guid="1", link=None, title="Spawanie")])
    assert call(echo, document, url="http://x/", limits=QUICK) == document


def test_a_worker_that_crashed_is_that_documents_error_and_not_reused() -> None:
    worker = call(os.getpid, url="http://x/", limits=QUICK)
    assert emitted_pid(pid_then_exit) == worker
    with pytest.raises(ConnectorError) as info:
        call(os._exit, 3, url="http://x/", limits=QUICK)
    assert (info.value.error_class, info.value.message) == (
        "internal",
        "the parser process died (exit status 3)",
    )
    assert worker not in children()
    assert call(os.getpid, url="http://x/", limits=QUICK) not in (worker, os.getpid())


def test_a_worker_started_under_other_limits_is_not_reused_for_a_call() -> None:
    small = call(os.getpid, url="http://x/", limits=QUICK)
    larger = dataclasses.replace(QUICK, max_memory=128 * 1024 * 1024)
    other = call(os.getpid, url="http://x/", limits=larger)
    assert other != small
    assert WORKERS.pids() == [other]  # the idle one made room: one caller, one worker


def test_a_worker_is_retired_after_its_documents_or_when_its_memory_grew() -> None:
    pool = Pool(FORK_GUARD.forking, max_documents=2, max_growth=16 * 1024 * 1024)
    try:
        first = [call(os.getpid, url="x", limits=QUICK, pool=pool) for _ in range(3)]
        assert first[0] == first[1] != first[2]  # two documents each
        kept = call(hoard, 1024 * 1024, url="x", limits=QUICK, pool=pool)
        assert kept == first[2]  # a megabyte left behind is not worth a fork
        pool.close()
        grown = call(hoard, 32 * 1024 * 1024, url="x", limits=QUICK, pool=pool)
        assert grown not in first and grown not in children()  # it kept 32 MB
    finally:
        pool.close()


def test_closing_the_pool_stops_and_reaps_every_worker() -> None:
    slow = ParseLimits(timeout=10.0, max_memory=QUICK.max_memory)
    with_two = threading.Barrier(2)

    def two_at_once() -> None:
        with_two.wait(5)
        call(time.sleep, 0.5, url="x", limits=slow)

    callers = [threading.Thread(target=two_at_once) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    workers = set(WORKERS.pids())
    assert len(workers) == 2 and workers <= children()
    WORKERS.close()
    assert WORKERS.pids() == [] and not workers & children()  # no zombie either


def test_an_idle_worker_exits_after_its_idle_time() -> None:
    pool = Pool(FORK_GUARD.forking, idle=0.5)
    try:
        worker = call(os.getpid, url="x", limits=QUICK, pool=pool)
        started = time.monotonic()
        assert worker in children()
        while worker in children() and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert worker not in children()  # exited and reaped
        assert time.monotonic() - started >= 0.4 and pool.pids() == []
    finally:
        pool.close()


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


def walk_with_errors(
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


def walk_two(source: Source, first: FetchResult, get: GetPage, state: object) -> int:
    return len([get(f"http://x/{n}", accept="*/*") for n in range(2)])


def walk_forever(
    source: Source, first: FetchResult, get: GetPage, state: object
) -> None:
    get("http://x/2", accept="*/*")
    while True:  # a pathological page
        pass


def walk_and_bloat(
    source: Source, first: FetchResult, get: GetPage, state: object
) -> None:
    pages = [get("http://x/2", accept="*/*")]
    pages.append(bytearray(512 * 1024 * 1024))  # type: ignore[arg-type]


def test_a_crawl_gets_its_pages_from_the_parent_and_their_errors_typed() -> None:
    parent = os.getpid()
    asked: list[tuple[int, str]] = []

    def get(url: str, *, accept: str) -> FetchResult:  # runs here: a closure is fine
        asked.append((os.getpid(), url))
        return page(url, accept=accept)

    child, bodies, errors = crawl(
        walk_with_errors, SOURCE, FIRST, get, {}, limits=QUICK
    )
    assert child != parent and {pid for pid, _ in asked} == {parent}
    assert bodies == [b"<html>1</html>", b"<http://x/2>"]
    assert errors == [("http_status", 404), ("cap", "too_large")]
    # its next crawl goes to the same worker
    assert crawl(walk_with_errors, SOURCE, FIRST, get, {}, limits=QUICK)[0] == child


def test_time_spent_fetching_is_not_the_crawls_parse_time() -> None:
    def slow_get(url: str, *, accept: str) -> FetchResult:
        time.sleep(0.6)  # two pages: longer than the 1 s budget, but fetching
        return page(url, accept=accept)

    assert crawl(walk_two, SOURCE, FIRST, slow_get, {}, limits=QUICK) == 2


def test_a_crawl_whose_parsing_never_ends_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError) as info:
        crawl(walk_forever, SOURCE, FIRST, page, {}, limits=QUICK)
    assert info.value.error_class == "parse_timeout"
    assert time.monotonic() - started < 10


def test_a_crawl_that_bloats_hits_the_memory_cap() -> None:
    with pytest.raises(ConnectorError) as info:
        crawl(walk_and_bloat, SOURCE, FIRST, page, {}, limits=QUICK)
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


class _Rendezvous:
    """RSS, except that each parse waits until ``parties`` parses are under way at
    once (each in its own process, named by its pid in ``directory``)."""

    source_type = "test-rendezvous"
    accept = "application/rss+xml"

    def __init__(self, directory: Path, parties: int) -> None:
        self.directory, self.parties = directory, parties  # sent with each document

    def parse(self, source: Source, result: FetchResult) -> ParsedDocument:
        (self.directory / str(os.getpid())).touch()
        deadline = time.monotonic() + 10
        while len(list(self.directory.iterdir())) < self.parties:
            if time.monotonic() > deadline:
                raise ParseError(source.url, "the other parses never came", "parse")
            time.sleep(0.01)
        return connectors.get_connector("rss").parse(source, result)


def test_the_fetch_threads_parsing_at_once_each_get_their_own_worker(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = ParseLimits(timeout=20.0, max_memory=256 * 1024 * 1024)
    earlier = call(os.getpid, url="x", limits=limits)  # forked before the connector
    seen = tmp_path / "pids"
    seen.mkdir()
    monkeypatch.setitem(
        connectors._REGISTRY, "test-rendezvous", _Rendezvous(seen, parties=4)
    )
    feed = (
        "<rss version='2.0'><channel><title>t</title><link>https://m.example/</link>"
        "<item><guid>{0}</guid><title>{0}</title></item></channel></rss>"
    )
    sources = {}
    for n in range(4):
        httpserver.expect_request(f"/{n}").respond_with_data(feed.format(n))
        sources[f"s{n}"] = httpserver.url_for(f"/{n}")
    registry = write_registry(
        tmp_path / "clusters.yaml", sources, type_="test-rendezvous"
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    with Harvester(
        sessions,
        make_http(),
        clock=clock,
        policy=LOOPBACK,
        parse_limits=limits,
        pool_size=4,  # one host's four sources: fetched in turn, parsed at once
    ) as harvester:
        runs = harvester.run(due_only=False)
        assert [(r.status, r.new) for r in runs] == [("ok", 1)] * 4
        pids = {int(path.name) for path in seen.iterdir()}
        assert len(pids) == 4 and earlier in pids and os.getpid() not in pids
        assert WORKERS.pids() == sorted(pids)  # kept for the next documents
    assert WORKERS.pids() == [] and not pids & children()  # closed with the harvester


def test_no_fork_happens_while_another_thread_is_inside_lxml() -> None:
    inside, forked = threading.Event(), threading.Event()
    leave = threading.Event()

    def lxml_user() -> None:
        with FORK_GUARD.using():
            inside.set()
            leave.wait(10)

    def forker() -> None:
        call(os.getpid, url="x", limits=QUICK)  # no worker yet: one is forked
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


def test_a_fetched_body_travels_to_a_worker_out_of_band() -> None:
    """The harvester writes a body to its parsing worker from where it lies: under
    pickle protocol 5 it is a buffer beside the pickle, not copied into it."""
    result = FetchResult("http://x/", 200, {"etag": '"1"'}, b"<rss>" * 50_000, '"1"')
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(result, 5, buffer_callback=buffers.append)
    assert len(data) < 1_000 and [len(b.raw()) for b in buffers] == [250_000]
    assert pickle.loads(data, buffers=[bytes(b.raw()) for b in buffers]) == result
    assert pickle.loads(pickle.dumps(result)) == result  # elsewhere: in the pickle
    assert call(_body_length, result, url=result.url, limits=QUICK) == 250_000


def _body_length(result: FetchResult) -> int:
    return len(result.body)
