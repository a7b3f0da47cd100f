"""Parsing under limits that really stop the work: a forked child process with a
wall-clock deadline and an address-space cap.

A thread cannot be stopped from outside, and a parser stuck in a pathological regex
or inflating a hostile document holds the GIL and the memory of the whole process.
So a document is parsed in a child forked for it: the parent waits at most
``timeout`` seconds for the pickled result, then kills the child; the child's
address space may grow by at most ``max_memory`` bytes before allocations fail.

A crawler's run (several pages) goes to a child as a whole, but the child never
touches the network: it asks the parent for each page (``crawl``), so fetching keeps
its guards and limits, and the parse limits bound the parsing of every page.

A child may hand over results while it works (``sink``): the harvester's children
emit a big feed's offers in batches, which the parent spools, so neither process
holds them all. The time the parent spends on them is not the child's.

Fork, not spawn: the child starts with the parent's modules and connectors (a spawn
would import them again, for every document) and runs only the parse and a
``pickle`` of its result, so locks other threads held at fork time are not touched
(``logging`` re-initialises its own locks after a fork).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pickle
import resource
import select
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

from connectors.base import ConnectorError
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import GetPage
from connectors.base import PageCapReached
from connectors.base import ParseError
from connectors.base import Source

T = TypeVar("T")

_HEADER = 8  # bytes of the length prefix of the child's answer


class ForkGuard:
    """Forks only while no other thread is inside lxml.

    libxml2 keeps process-wide locks, and so do the resolver and TLS libraries a
    fetch goes through: a child forked while another thread held one would wait for
    it forever. Code that uses lxml outside a parsing child (the web's requests)
    and every fetch of the harvester run between ``enter()`` and
    ``leave()`` (or ``with guard.using():``); ``call`` forks when nobody does.
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


@dataclasses.dataclass(frozen=True)
class ParseLimits:
    """How long one document's parse may take and how much memory it may add.

    ``isolate=False`` parses in the calling thread, without either limit: for tools
    and tests that parse their own trusted files.
    """

    timeout: float = 120.0
    max_memory: int = 1024 * 1024 * 1024
    isolate: bool = True


Emit = Callable[[Any], None]
Sink = Callable[[bytes], None]


def call(
    fn: Callable[..., T],
    *args: Any,
    url: str,
    limits: ParseLimits = ParseLimits(),
    sink: Sink | None = None,
) -> T:
    """``fn(*args)`` in a child process under ``limits``; its result or its error.

    With a ``sink``, ``fn(*args, emit)`` may hand over results as it makes them:
    each ``emit(obj)`` reaches ``sink`` as ``pickle.dumps(obj)`` while the child
    works on, so neither process holds all of them at once.

    A ``ConnectorError`` raised by ``fn`` is raised again here with its class and
    message. Raises ``ConnectorError`` of class ``parse_timeout`` when the deadline
    passed, ``too_large`` when the memory cap was hit, ``internal`` for a child
    that crashed or any other exception.
    """
    extra = () if sink is None else (_emitter(sink),)
    if not limits.isolate:
        return fn(*args, *extra)

    def work(_pages: GetPage | None, emit: Emit) -> T:
        return fn(*args) if sink is None else fn(*args, emit)

    return _run(work, url, limits, None, sink)


def _emitter(sink: Sink) -> Emit:
    """``emit`` in the calling process (no child): the sink gets the same bytes."""
    return lambda obj: sink(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def crawl(
    fn: Callable[..., T],
    source: Source,
    first: FetchResult,
    get: GetPage,
    state: Mapping[str, Any],
    *,
    limits: ParseLimits = ParseLimits(),
    sink: Sink | None = None,
) -> T:
    """A crawler's run, ``fn(source, first, get, state)``, in a child process
    (with a ``sink``: ``fn(source, first, get, state, emit)``, as in ``call``).

    The child never touches the network: each page it asks for is fetched here, by
    ``get`` (its guards, limits and page cap), and sent to it; a ``ConnectorError``
    of ``get`` is raised in the child, where the crawler handles it. The memory cap
    holds for the whole crawl; ``limits.timeout`` bounds the child's own work, all
    pages together (the time spent fetching is not counted). Errors as ``call``.
    """
    extra = () if sink is None else (_emitter(sink),)
    if not limits.isolate:
        return fn(source, first, get, state, *extra)

    def work(pages: GetPage | None, emit: Emit) -> T:
        assert pages is not None
        if sink is None:
            return fn(source, first, pages, state)
        return fn(source, first, pages, state, emit)

    return _run(work, first.url, limits, get, sink)


def _run(
    work: Callable[[GetPage | None, Emit], T],
    url: str,
    limits: ParseLimits,
    get: GetPage | None,
    sink: Sink | None = None,
) -> T:
    answers, to_parent = os.pipe()  # (read end, write end)
    replies, to_child = os.pipe() if get is not None else (-1, -1)
    with FORK_GUARD.forking():
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(answers)
        if get is not None:
            os.close(to_child)
        pages = None if get is None else _RemotePages(to_parent, replies)
        _child(to_parent, limits, lambda: work(pages, _ChildEmit(to_parent)))
    os.close(to_parent)
    if get is not None:
        os.close(replies)
    try:
        answer = _serve(answers, to_child, get, sink, limits.timeout)
    finally:
        os.close(answers)
        if get is not None:
            os.close(to_child)
        exit_status = _reap(pid)
    if answer is _TIMED_OUT:
        raise ConnectorError(
            url, f"parsing took longer than {limits.timeout:g} s", "parse_timeout"
        )
    if answer is None:
        raise ConnectorError(
            url, f"the parser process died ({_describe(exit_status)})", "internal"
        )
    outcome, value = answer
    if outcome == "ok":
        return value  # type: ignore[no-any-return]
    error_class, message = value
    raise ConnectorError(url, message, error_class)


def _serve(
    answers: int,
    to_child: int,
    get: GetPage | None,
    sink: Sink | None,
    budget: float,
) -> tuple[str, Any] | bytes | None:
    """The child's answer, serving its page requests and passing what it emits to
    ``sink`` meanwhile; ``_TIMED_OUT`` once its own work took longer than
    ``budget`` seconds; None if it died."""
    while True:
        started = time.monotonic()
        message = _read(answers, started + budget)
        if message is _TIMED_OUT or message is None:
            return message
        kind, value = pickle.loads(message)
        if kind == "emit":
            assert sink is not None
            sink(value)  # the sink's time (a spool's write) is not the child's
            budget -= time.monotonic() - started
            continue
        budget -= time.monotonic() - started
        if kind != "get":
            return kind, value
        assert get is not None
        page_url, accept = value
        try:
            reply: tuple[str, Any] = ("ok", get(page_url, accept=accept))
        except ConnectorError as e:
            reply = ("error", _error_state(e))
        except Exception as e:  # a bug in the fetch path: the page fails, not the run
            reply = ("error", ("ConnectorError", page_url, repr(e), "internal", None))
        try:
            _write(to_child, reply)
        except BrokenPipeError:  # the child died meanwhile (its memory cap...)
            return None


class _ChildEmit:
    """The child's ``emit``: one message to the parent per object, pickled once
    here (the parent passes the bytes on without reading them)."""

    def __init__(self, to_parent: int) -> None:
        self.to_parent = to_parent

    def __call__(self, obj: Any) -> None:
        _write(self.to_parent, ("emit", pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)))


class _RemotePages:
    """The child's ``GetPage``: asks the parent for each page and waits for it."""

    def __init__(self, to_parent: int, replies: int) -> None:
        self.to_parent, self.replies = to_parent, replies

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        _write(self.to_parent, ("get", (url, accept)))
        reply = _read(self.replies, math.inf)
        if not isinstance(reply, bytes) or reply is _TIMED_OUT:
            raise ConnectorError(url, "the harvester stopped serving pages", "internal")
        kind, value = pickle.loads(reply)
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


def _child(fd: int, limits: ParseLimits, work: Callable[[], Any]) -> None:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Ctrl+C and a systemd stop reach the whole process group: the parent
        # decides whether the run finishes (a worker that stops finishes its runs).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _cap_memory(limits.max_memory)
        # Parsing yields the CPU to its parent: the one thread that writes every
        # batch to the index, and the web's requests, go first (bench/harvest.py:
        # first harvest 7.2 -> 6.5 s, mean of four runs each).
        os.nice(10)
        try:
            answer: tuple[str, Any] = ("ok", work())
        except ConnectorError as e:
            answer = ("error", (e.error_class, e.message))
        except MemoryError:
            megabytes = limits.max_memory // (1024 * 1024)
            answer = (
                "error",
                ("too_large", f"parsing needed more than {megabytes} MB of memory"),
            )
        except RecursionError:
            answer = ("error", ("parse", "the document is nested too deeply"))
        except Exception as e:  # a parser crash is the document's problem
            answer = (
                "error",
                ("internal", f"parser crashed: {type(e).__name__}: {e}"),
            )
        _write(fd, answer)
    finally:
        os._exit(0)


def _write(fd: int, message: tuple[str, Any]) -> None:
    """One message, length-prefixed, whole (a pipe write may be partial)."""
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(payload).to_bytes(_HEADER, "big") + payload)
    while view:
        view = view[os.write(fd, view) :]


def _cap_memory(extra: int) -> None:
    """Let the address space grow by ``extra`` bytes beyond what it is now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


_TIMED_OUT = b"timed out"  # a sentinel, compared by identity


def _read(fd: int, deadline: float) -> bytes | None:
    """One whole message; ``_TIMED_OUT`` if it did not come before ``deadline``;
    None if the other end closed without one. Reads no further than the message:
    the pipe may carry the next."""
    head = _read_exactly(fd, _HEADER, deadline)
    if not isinstance(head, bytes) or head is _TIMED_OUT:
        return head
    return _read_exactly(fd, int.from_bytes(head, "big"), deadline)


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _TIMED_OUT
        ready, _, _ = select.select(
            [fd], [], [], None if math.isinf(remaining) else remaining
        )
        if not ready:
            return _TIMED_OUT
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:  # the other end exited without a complete message
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _reap(pid: int) -> int:
    """Kill the child if it still runs, collect it, and return its wait status."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return os.waitpid(pid, 0)[1]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
