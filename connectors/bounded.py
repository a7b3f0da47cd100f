"""Parsing under limits that really stop the work: a forked child process with a
wall-clock deadline and an address-space cap.

A thread cannot be stopped from outside, and a parser stuck in a pathological regex
or inflating a hostile document holds the GIL and the memory of the whole process.
So a document is parsed in a child forked for it: the parent waits at most
``timeout`` seconds for the pickled result, then kills the child; the child's
address space may grow by at most ``max_memory`` bytes before allocations fail.

Fork, not spawn: the child starts with the parent's modules and connectors (a spawn
would import them again, for every document) and runs only the parse and a
``pickle`` of its result, so locks other threads held at fork time are not touched
(``logging`` re-initialises its own locks after a fork).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import resource
import select
import signal
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import TypeVar

from connectors.base import ConnectorError

T = TypeVar("T")

_HEADER = 8  # bytes of the length prefix of the child's answer


class ForkGuard:
    """Forks only while no other thread is inside lxml.

    libxml2 keeps process-wide locks, and so do the resolver and TLS libraries a
    fetch goes through: a child forked while another thread held one would wait for
    it forever. Code that uses lxml outside a parsing child (text extraction, the
    web's requests) and every fetch of the harvester run between ``enter()`` and
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


def call(
    fn: Callable[..., T], *args: Any, url: str, limits: ParseLimits = ParseLimits()
) -> T:
    """``fn(*args)`` in a child process under ``limits``; its result or its error.

    A ``ConnectorError`` raised by ``fn`` is raised again here with its class and
    message. Raises ``ConnectorError`` of class ``parse_timeout`` when the deadline
    passed, ``too_large`` when the memory cap was hit, ``internal`` for a child
    that crashed or any other exception.
    """
    if not limits.isolate:
        return fn(*args)
    read_end, write_end = os.pipe()
    with FORK_GUARD.forking():
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(write_end, limits, fn, args)
    os.close(write_end)
    try:
        answer = _read(read_end, time.monotonic() + limits.timeout)
    finally:
        os.close(read_end)
        exit_status = _reap(pid)
    if answer is _TIMED_OUT:
        raise ConnectorError(
            url, f"parsing took longer than {limits.timeout:g} s", "parse_timeout"
        )
    if answer is None:
        raise ConnectorError(
            url, f"the parser process died ({_describe(exit_status)})", "internal"
        )
    outcome, value = pickle.loads(answer)
    if outcome == "ok":
        return value  # type: ignore[no-any-return]
    error_class, message = value
    raise ConnectorError(url, message, error_class)


def _child(fd: int, limits: ParseLimits, fn: Callable[..., Any], args: Any) -> None:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _cap_memory(limits.max_memory)
        try:
            payload = pickle.dumps(("ok", fn(*args)), pickle.HIGHEST_PROTOCOL)
        except ConnectorError as e:
            payload = pickle.dumps(("error", (e.error_class, e.message)))
        except MemoryError:
            payload = pickle.dumps(
                (
                    "error",
                    (
                        "too_large",
                        "parsing needed more than "
                        f"{limits.max_memory // (1024 * 1024)} MB of memory",
                    ),
                )
            )
        except RecursionError:
            payload = pickle.dumps(
                ("error", ("parse", "the document is nested too deeply"))
            )
        except Exception as e:  # a parser crash is the document's problem
            payload = pickle.dumps(
                ("error", ("internal", f"parser crashed: {type(e).__name__}: {e}"))
            )
        with os.fdopen(fd, "wb") as out:
            out.write(len(payload).to_bytes(_HEADER, "big"))
            out.write(payload)
    finally:
        os._exit(0)


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
    """The child's whole answer; ``_TIMED_OUT`` if it did not come before
    ``deadline``; None if the child exited without one."""
    chunks: list[bytes] = []
    expected: int | None = None
    received = 0
    while expected is None or received < expected + _HEADER:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _TIMED_OUT
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return _TIMED_OUT
        chunk = os.read(fd, 1 << 20)
        if not chunk:  # the child exited without a complete answer
            return None
        chunks.append(chunk)
        received += len(chunk)
        if expected is None and received >= _HEADER:
            expected = int.from_bytes(b"".join(chunks)[:_HEADER], "big")
    return b"".join(chunks)[_HEADER:]


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
