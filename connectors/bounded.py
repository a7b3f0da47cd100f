"""Parsing under limits that really stop the work: a forked worker process with a
wall-clock deadline and an address-space cap for each document.

A thread cannot be stopped from outside, and a parser stuck in a pathological regex
or inflating a hostile document holds the GIL and the memory of the whole process.
So documents are parsed in worker processes (connectors.workers), each document
sent to one as data (the function and its arguments, pickled): the caller waits at
most ``timeout`` seconds for the pickled result, then stops the worker (with SIGABRT:
it prints its stacks to stderr, see workers.Worker.abort); a worker's
address space may grow by at most ``max_memory`` bytes beyond what it was when it
started before allocations fail. A worker that timed out, crashed, ran out of memory
or raised anything but a ``ConnectorError`` is never used again; one that went well
takes the next document, so a harvest forks a few workers, not one per document.

A crawler's run (several pages) goes to a worker as a whole, but the worker never
touches the network: it asks the caller for each page (``crawl``), so fetching keeps
its guards and limits, and the parse limits bound the parsing of every page.

A worker may hand over results while it works (``sink``): the harvester's workers
emit a big feed's offers in batches, which the caller spools, so neither process
holds them all; a worker that reads a document again another way takes back what
it handed over (``Emit.retract``). The time the caller spends on them is not the
worker's.

Fork, not spawn: a worker starts with the parent's modules (a spawn would import
them again) and runs only parsing and ``pickle``, so locks other threads held at
fork time are not touched (``logging`` re-initialises its own locks after a fork;
the parent's objects are frozen out of the worker's garbage collector, so none of
their finalizers runs there).
What it runs comes with each document, not from its copy of the parent: a connector
registered after it started works in it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import pickle
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Protocol
from typing import TypeVar

from connectors import workers
from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParseError
from connectors.base import Source

T = TypeVar("T")

log = logging.getLogger(__name__)


class ForkGuard:
    """Forks only while no other thread is inside lxml.

    libxml2 keeps process-wide locks, and so do the resolver and TLS libraries a
    fetch goes through: a process forked while another thread held one would wait
    for it forever. Code that uses lxml outside a parsing worker (the web's
    requests) and every fetch of the harvester run between ``enter()`` and
    ``leave()`` (or ``with guard.using():``); a parsing worker is forked when
    nobody does.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._users = 0

    def enter(self) -> None:
        with self._changed:
            self._users += 1

    def leave(self) -> None:
        with self._changed:
            self._users -= 1
            if not self._users:
                self._changed.notify_all()

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextlib.contextmanager
    def forking(self) -> Iterator[None]:
        """Held around ``os.fork()``: waits for the users to leave, lets no new
        one in meanwhile."""
        with self._changed:
            self._changed.wait_for(lambda: self._users == 0)
            yield


FORK_GUARD = ForkGuard()
# The process's parsing workers; closed at exit, and by the harvester's users when
# they are done (Harvester.close), so no idle worker outlives its use for long.
WORKERS = workers.Pool(FORK_GUARD.forking)
atexit.register(WORKERS.close)


@dataclasses.dataclass(frozen=True)
class ParseLimits:
    """How long one document's parse may take and how much memory it may add.

    The memory cap counts from the worker's size when it started: what earlier
    documents left in it (at most ``workers.MAX_GROWTH``) counts too.
    ``isolate=False`` parses in the calling thread, without either limit: for tools
    and tests that parse their own trusted files.
    """

    timeout: float = 120.0
    max_memory: int = 1024 * 1024 * 1024
    isolate: bool = True


class Emit(Protocol):
    """How work hands over results while it works (``call``'s ``sink``)."""

    def __call__(self, obj: Any) -> None: ...

    def retract(self, count: int) -> None:
        """Take back the last ``count`` objects handed over."""


class Sink(Protocol):
    """Where the caller gets them: each object as ``pickle.dumps(obj)``."""

    def add(self, payload: bytes) -> None: ...

    def retract(self, count: int) -> None:
        """Drop the last ``count`` payloads added."""


def call(
    fn: Callable[..., T],
    *args: Any,
    url: str,
    limits: ParseLimits = ParseLimits(),
    sink: Sink | None = None,
    pool: workers.Pool | None = None,
) -> T:
    """``fn(*args)`` in a parsing worker under ``limits``; its result or its error.

    ``fn`` and ``args`` are pickled to the worker (a module-level function, not a
    closure), and so is the result on its way back. ``pool`` is ``WORKERS`` unless
    given.

    With a ``sink``, ``fn(*args, emit)`` may hand over results as it makes them:
    each ``emit(obj)`` reaches ``sink.add`` as ``pickle.dumps(obj)`` while the
    worker works on, so neither process holds all of them at once, and each
    ``emit.retract(count)`` reaches ``sink.retract``.

    A ``ConnectorError`` raised by ``fn`` is raised again here with its class and
    message. Raises ``ConnectorError`` of class ``parse_timeout`` when the deadline
    passed, ``too_large`` when the memory cap was hit, ``internal`` for a worker
    that crashed or any other exception.
    """
    if not limits.isolate:
        return fn(*args, *_emitters(sink))
    return _run(fn, args, url, limits, None, sink, pool or WORKERS)


def _emitters(sink: Sink | None) -> tuple[Emit, ...]:
    """``emit`` in the calling process (no worker): the sink gets the same bytes."""
    return () if sink is None else (_LocalEmit(sink),)


class _LocalEmit:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __call__(self, obj: Any) -> None:
        self.sink.add(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))

    def retract(self, count: int) -> None:
        self.sink.retract(count)


def crawl(
    fn: Callable[..., T],
    source: Source,
    first: FetchResult,
    get: GetPage,
    state: Mapping[str, Any],
    *args: Any,
    limits: ParseLimits = ParseLimits(),
    sink: Sink | None = None,
    pool: workers.Pool | None = None,
) -> T:
    """A crawler's run, ``fn(source, first, get, state, *args)``, in a parsing
    worker (with a ``sink``, ``emit`` comes last, as in ``call``).

    The worker never touches the network: each page it asks for is fetched here, by
    ``get`` (its guards, limits and page cap), and sent to it; a ``ConnectorError``
    of ``get`` is raised in the worker, where the crawler handles it. The memory cap
    holds for the whole crawl; ``limits.timeout`` bounds the worker's own work, all
    pages together (the time spent fetching is not counted). Errors as ``call``.
    """
    if not limits.isolate:
        return fn(source, first, get, state, *args, *_emitters(sink))
    args = (source, first, state, *args)
    return _run(fn, args, first.url, limits, get, sink, pool or WORKERS)


def _run(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    url: str,
    limits: ParseLimits,
    get: GetPage | None,
    sink: Sink | None,
    pool: workers.Pool,
) -> T:
    request = (fn, args, limits.max_memory, get is not None, sink is not None)
    with pool.worker(limits.max_memory) as worker:
        try:
            started = time.monotonic()
            worker.send(("run", (_execute, request)), started + limits.timeout)
            budget = limits.timeout - (time.monotonic() - started)
            outcome, value = _serve(worker, get, sink, budget)
        except workers.TimedOut:
            log.warning(
                "parsing %s took longer than %g s: worker %d stopped with SIGABRT "
                "(its stack is on stderr)",
                url,
                limits.timeout,
                worker.pid,
            )
            worker.abort()
            raise ConnectorError(
                url, f"parsing took longer than {limits.timeout:g} s", "parse_timeout"
            ) from None
        except workers.Died:
            raise ConnectorError(
                url, f"the parser process died ({worker.reap()})", "internal"
            ) from None
    if outcome == "ok":
        return value  # type: ignore[no-any-return]
    error_class, message = value
    raise ConnectorError(url, message, error_class)


def _serve(
    worker: workers.Worker,
    get: GetPage | None,
    sink: Sink | None,
    budget: float,
) -> tuple[str, Any]:
    """The worker's answer, serving its page requests and passing what it emits to
    ``sink`` meanwhile. Raises ``workers.TimedOut`` once its own work took longer
    than ``budget`` seconds, ``workers.Died`` if it died."""
    while True:
        started = time.monotonic()
        kind, value = worker.receive(started + budget)
        budget -= time.monotonic() - started  # not the sink's, nor get's, time
        if kind in ("emit", "retract"):
            assert sink is not None
            (sink.add if kind == "emit" else sink.retract)(value)
            continue
        if kind == "done":
            return value  # type: ignore[no-any-return]
        assert kind == "get" and get is not None
        page_url, accept = value
        try:
            reply: tuple[str, Any] = ("ok", get(page_url, accept=accept))
        except ConnectorError as e:
            reply = ("error", _error_state(e))
        except Exception as e:  # a bug in the fetch path: the page fails, not the run
            reply = ("error", ("ConnectorError", page_url, repr(e), "internal", None))
        # Died if the worker died meanwhile (its memory cap...)
        worker.send(reply, time.monotonic() + budget)


# --- in the parsing worker ---------------------------------------------------------


def _execute(
    parent: workers.Parent,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    max_memory: int,
    crawls: bool,
    emits: bool,
) -> tuple[tuple[str, Any], bool]:
    """One document in the worker: its answer, and whether the worker may take
    another (not after an error that was not the document's own)."""
    call_args = list(args)
    if crawls:
        call_args.insert(2, _RemotePages(parent))  # fn(source, first, get, ...)
    if emits:
        call_args.append(_WorkerEmit(parent))
    try:
        return ("ok", fn(*call_args)), True
    except ConnectorError as e:
        return ("error", (e.error_class, e.message)), True
    except MemoryError:
        megabytes = max_memory // (1024 * 1024)
        message = f"parsing needed more than {megabytes} MB of memory"
        return ("error", ("too_large", message)), False
    except RecursionError:
        return ("error", ("parse", "the document is nested too deeply")), False
    except Exception as e:  # a parser crash is the document's problem
        message = f"parser crashed: {type(e).__name__}: {e}"
        return ("error", ("internal", message)), False


class _WorkerEmit:
    """The worker's ``emit``: one message to the caller per object, pickled once
    here (the caller passes the bytes on without reading them; they travel out of
    band, connectors.workers)."""

    def __init__(self, parent: workers.Parent) -> None:
        self.parent = parent

    def __call__(self, obj: Any) -> None:
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        self.parent.send(("emit", pickle.PickleBuffer(data)))

    def retract(self, count: int) -> None:
        self.parent.send(("retract", count))


class _RemotePages:
    """The worker's ``GetPage``: asks the caller for each page and waits for it."""

    def __init__(self, parent: workers.Parent) -> None:
        self.parent = parent

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        self.parent.send(("get", (url, accept)))
        reply = self.parent.receive()
        if reply is None:
            raise ConnectorError(url, "the harvester stopped serving pages", "internal")
        kind, value = reply
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        raise _rebuilt(value)


_ERRORS: dict[str, type[ConnectorError]] = {
    cls.__name__: cls
    for cls in (ConnectorError, FetchError, PageCapReached, ParseError)
}


def _error_state(e: ConnectorError) -> tuple[str, str, str, str, int | None]:
    name = next((n for n, cls in _ERRORS.items() if type(e) is cls), "ConnectorError")
    return name, e.url, e.message, e.error_class, getattr(e, "status", None)


def _rebuilt(state: tuple[str, str, str, str, int | None]) -> ConnectorError:
    name, url, message, error_class, status = state
    if name == "PageCapReached":
        return PageCapReached(url, message)
    if name == "FetchError":
        return FetchError(url, message, error_class, status=status)
    return _ERRORS[name](url, message, error_class)
