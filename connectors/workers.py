"""Parsing workers: forked processes that live across documents and run work sent to
them as data, one piece at a time. Owns the wire protocol (length-prefixed pickles
over pipes); knows nothing of parsing or connectors (connectors.bounded does).

A caller checks a free worker out of a ``Pool`` (or forks one if none is free), sends
it ``("run", (fn, args))`` and reads its messages until ``("done", answer)``; the
worker runs ``fn(parent, *args)``, where ``parent`` lets it send more messages (each a
``(kind, value)`` pair) and read the caller's replies; ``fn`` returns the answer and
whether the worker is fit for another document. A worker is never shared: there are
at most as many as callers at once.

A worker is used again only while nothing suggests that a document left something
behind: it is stopped after a timeout or a crash (the caller's choice), when the work
says so (any error but a connector's), when its memory grew by more than
``MAX_GROWTH`` since it started, after ``MAX_DOCUMENTS`` documents, and after ``idle``
seconds without work. A worker's memory cap (RLIMIT_AS) is set once, when it starts:
a worker started with another ``max_memory`` is not used for a call.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import io
import math
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import NoReturn

IDLE = 60.0  # seconds a free worker waits for work before it is stopped
# Fork costs ~16 ms of CPU (bench/README.md, first harvest): over 200 documents it is
# under 0.1 ms each, and whatever leaks too slowly for MAX_GROWTH is still let go.
MAX_DOCUMENTS = 200
# Freed memory is not always given back to the system (a heap fragmented by a big
# document keeps its pages): every worker would hold it while it lives, and the next
# documents' cap would count it. Resident anonymous memory, not the address space:
# glibc reserves a thread arena's heaps 64 MB at a time. 64 MB is well above what an
# ordinary feed leaves (a few MB of caches) and a sixteenth of the default cap: at
# most that much of ECOOP_PARSE_MAX_MB is lost to earlier documents, and four
# fetch threads' workers keep at most 256 MB more than they started with.
MAX_GROWTH = 64 * 1024 * 1024
# Seconds a timed-out worker has to print its stacks and end: it ends milliseconds
# after SIGABRT, unless the machine is starved (it runs at nice 10) or it cannot run.
ABORT_GRACE = 5.0

Message = tuple[str, Any]

_HEADER = 8  # bytes of a message's length prefix


class TimedOut(Exception):
    """No whole message came from the worker before the deadline."""


class Died(Exception):
    """The other end exited (or closed its pipe) before a whole message."""


class Worker:
    """The parent's end of one worker process: its pid and its two pipes."""

    def __init__(
        self, pid: int, requests: int, answers: int, max_memory: int, generation: int
    ) -> None:
        self.pid = pid
        self.requests, self.answers = requests, answers  # write end, read end
        self.max_memory = max_memory
        self.generation = generation  # the pool's when forked (Pool.close)
        self.documents = 0
        self.idle_since = 0.0
        self.keep = True  # the last answer left it fit for another document
        self.status: int | None = None  # wait status, once reaped

    def send(self, message: Message, deadline: float = math.inf) -> None:
        """Raises ``TimedOut`` if the worker did not take it whole before
        ``deadline`` (it reads a request only when done with the last), ``Died``
        if it is gone."""
        try:
            _write(self.requests, message, deadline)
        except BrokenPipeError:
            raise Died from None

    def receive(self, deadline: float) -> Message:
        """The worker's next message, ``("done", answer)`` last.

        Raises ``TimedOut`` if it did not come whole before ``deadline``
        (``time.monotonic()``), ``Died`` if the worker ended first.
        """
        kind, value = _read(self.answers, deadline)
        if kind == "done":
            answer, self.keep = value
            return kind, answer
        return kind, value

    def abort(self, grace: float = ABORT_GRACE) -> None:
        """Stop a worker that overran its deadline with SIGABRT, which makes it
        print where it was (its threads' Python stacks, to its stderr: the
        parent's) before it dies, as gunicorn does with a timed-out worker; killed
        if it has not ended after ``grace`` seconds."""
        if self.status is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGABRT)
        until = time.monotonic() + grace
        while time.monotonic() < until:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return
            time.sleep(0.01)

    def reap(self) -> str:
        """Kill the process if it still runs and reap it; how it ended ("signal
        SIGKILL", "exit status 1"). Its pipes stay open until the pool drops it."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.status = os.waitpid(self.pid, 0)[1]
        if os.WIFSIGNALED(self.status):
            return f"signal {signal.Signals(os.WTERMSIG(self.status)).name}"
        return f"exit status {os.waitstatus_to_exitcode(self.status)}"


class Pool:
    """The parsing workers of a process.

    ``forking`` is held around each fork (connectors.bounded.FORK_GUARD). A thread
    stops the workers left idle ``idle`` seconds and reaps them; it ends when no
    worker is left.
    """

    def __init__(
        self,
        forking: Callable[[], contextlib.AbstractContextManager[object]],
        *,
        idle: float = IDLE,
        max_documents: int = MAX_DOCUMENTS,
        max_growth: int = MAX_GROWTH,
    ) -> None:
        self.forking = forking
        self.idle = idle
        self.max_documents = max_documents
        self.max_growth = max_growth
        self._changed = threading.Condition()
        self._free: list[Worker] = []  # the most recently used last
        self._live: set[Worker] = set()  # free and checked out
        self._generation = 0
        self._watcher: threading.Thread | None = None

    @contextlib.contextmanager
    def worker(self, max_memory: int) -> Iterator[Worker]:
        """A worker of its own for the caller, under ``max_memory``; given back
        when the block ends, or stopped if it raised or the worker is not fit for
        another document."""
        worker = self._take(max_memory)
        try:
            yield worker
        except BaseException:
            self._drop(worker)
            raise
        self._give_back(worker)

    def close(self) -> None:
        """Stop and reap the free workers now, the checked out ones when their
        document ends. The pool stays usable: the next call forks a new worker."""
        with self._changed:
            self._generation += 1
            idle, self._free = self._free, []
            self._live.difference_update(idle)
            self._changed.notify_all()
        for worker in idle:
            _stop(worker)

    def pids(self) -> list[int]:
        """The live workers' process ids."""
        with self._changed:
            return sorted(worker.pid for worker in self._live)

    def _take(self, max_memory: int) -> Worker:
        with self._changed:
            for worker in reversed(self._free):
                if worker.max_memory == max_memory:
                    self._free.remove(worker)
                    return worker
            # Only workers under other limits are free: the oldest makes room, so
            # there are never more workers than callers at once.
            other = self._free.pop(0) if self._free else None
            if other is not None:
                self._live.discard(other)
        if other is not None:
            _stop(other)
        return self._fork(max_memory)

    def _give_back(self, worker: Worker) -> None:
        worker.documents += 1
        with self._changed:
            if (
                worker.keep
                and worker.documents < self.max_documents
                and worker.generation == self._generation
            ):
                worker.idle_since = time.monotonic()
                self._free.append(worker)
                self._changed.notify_all()
                return
            self._live.discard(worker)
            self._changed.notify_all()
        _stop(worker)

    def _drop(self, worker: Worker) -> None:
        with self._changed:
            self._live.discard(worker)
            self._changed.notify_all()
        _stop(worker)

    def _fork(self, max_memory: int) -> Worker:
        # Pipes made, fork and closing the child's ends all under the guard: a
        # worker forked meanwhile by another thread would keep a copy of this one's
        # answer pipe open, and its death would read as a timeout.
        with self.forking():
            requests, to_worker = os.pipe()  # (read end, write end)
            from_worker, answers = os.pipe()
            with self._changed:
                generation = self._generation
                inherited = [fd for w in self._live for fd in (w.requests, w.answers)]
            # The objects alive at the fork are frozen out of the worker's
            # collector: it never runs their finalizers, which could wait on a lock
            # another thread held at the fork. (It did: a test process's garbage
            # held SQLite connections of earlier engines; the worker's collection
            # closed one, and sqlite3_close waited for SQLite's mutex, which the
            # writing thread held at the fork. The parse hung till its deadline.)
            # The worker freezes them itself, first thing, with collections off
            # from before the fork: freezing here and thawing after would also
            # thaw what the parent keeps frozen (hub.collector.settle).
            collecting, pid = gc.isenabled(), -1
            gc.disable()
            try:
                pid = os.fork()
            except OSError:
                for fd in (requests, to_worker, from_worker, answers):
                    os.close(fd)
                raise
            finally:
                if pid != 0:  # also when the fork failed
                    _collect(collecting)
            if pid == 0:  # the worker: never returns
                gc.freeze()
                _collect(collecting)
                os.close(to_worker)
                os.close(from_worker)
                _main(Parent(requests, answers), inherited, max_memory, self.max_growth)
            os.close(requests)
            os.close(answers)
            os.set_blocking(to_worker, False)  # sends wait for it until a deadline
        worker = Worker(pid, to_worker, from_worker, max_memory, generation)
        with self._changed:
            self._live.add(worker)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="parsing-workers", daemon=True
                )
                self._watcher.start()
        return worker

    def _watch(self) -> None:
        """Stop the workers idle for ``idle`` seconds, until none is left."""
        while True:
            with self._changed:
                if not self._live:
                    self._watcher = None
                    return
                now = time.monotonic()
                expired = [w for w in self._free if now - w.idle_since >= self.idle]
                if not expired:
                    waits = [w.idle_since + self.idle - now for w in self._free]
                    self._changed.wait(min(waits) if waits else None)
                    continue
                for worker in expired:
                    self._free.remove(worker)
                    self._live.discard(worker)
            for worker in expired:
                _stop(worker)


def _stop(worker: Worker) -> None:
    """Reap ``worker`` and close its pipes, once it left the pool's live set: a
    worker forked meanwhile closes the numbers of the live ones' pipes."""
    worker.reap()
    os.close(worker.requests)
    os.close(worker.answers)


# --- in the worker process ---------------------------------------------------------


class Parent:
    """The worker's end: requests and replies come in, messages go out."""

    def __init__(self, requests: int, answers: int) -> None:
        self.answers = answers
        # Buffered, blocking (the worker waits for work as long as it takes): a
        # read of a message's body goes straight into the bytes it returns. Read
        # in chunks and joined, a 110 MB feed took twice its size at once.
        self.requests = io.BufferedReader(io.FileIO(requests, closefd=False))

    def send(self, message: Message) -> None:
        _write(self.answers, message)

    def receive(self) -> Message | None:
        """The parent's next message; None once it closed its end (it exited)."""
        try:
            return _message(self._read_exactly)
        except Died:
            return None

    def _read_exactly(self, size: int) -> bytes:
        data = self.requests.read(size)
        if len(data) < size:  # the parent exited without a complete message
            raise Died
        return data


def _collect(enabled: bool) -> None:
    if enabled:
        gc.enable()


def _main(
    parent: Parent, inherited: list[int], max_memory: int, max_growth: int
) -> NoReturn:
    status = 0
    try:
        for fd in inherited:  # so each worker sees its parent exit, whatever forked
            with contextlib.suppress(OSError):  # one stopped since the parent looked
                os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Ctrl+C and a systemd stop reach the whole process group: the parent
        # decides whether the run finishes (a worker that stops finishes its runs).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # A crash in a parsing library, or the parent's SIGABRT at a deadline
        # (Worker.abort), prints the stacks to stderr; no core file is written.
        faulthandler.enable(file=2, all_threads=True)
        resource.setrlimit(
            resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1])
        )
        _cap_memory(max_memory)
        # Parsing yields the CPU to its parent: the one thread that writes every
        # batch to the index, and the web's requests, go first (bench/harvest.py:
        # first harvest 7.2 -> 6.5 s, mean of four runs each).
        os.nice(10)
        _, started = _memory()
        while (request := parent.receive()) is not None:
            kind, (fn, args) = request
            assert kind == "run"
            answer, keep = fn(parent, *args)
            _, resident = _memory()
            parent.send(("done", (answer, keep and resident - started <= max_growth)))
    except BrokenPipeError:  # the parent stopped reading: it exited or gave up
        pass
    except BaseException:  # a bug here, not in a document: say what it was
        status = 1
        with contextlib.suppress(BaseException):
            traceback.print_exc(file=sys.stderr)
    finally:
        os._exit(status)


def _memory() -> tuple[int, int]:
    """This process's address space and its resident anonymous memory (what it
    allocated, not the library code it maps in as it runs), in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        size, resident, shared = (int(n) for n in statm.read().split()[:3])
    page = resource.getpagesize()
    return size * page, (resident - shared) * page


def _cap_memory(extra: int) -> None:
    """Let the address space grow by ``extra`` bytes beyond what it is now."""
    size, _ = _memory()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


# --- the wire: length-prefixed pickles ---------------------------------------------


def _write(fd: int, message: Message, deadline: float = math.inf) -> None:
    """One message, whole (a pipe write may be partial): the lengths of its pickle
    and of each out-of-band buffer, the pickle, the buffers.

    A ``pickle.PickleBuffer`` in the message (a fetched body: FetchResult's pickling;
    a batch of offers) is written from where it lies, after the pickle: pickled
    inside it, a 100,000-offer feed was copied twice more in the sender (2 x 110 MB
    in the harvester). It is read back as ``bytes``.

    On a non-blocking ``fd`` the writes wait for room until ``deadline``, then
    raise ``TimedOut``; on a blocking one they wait as long as it takes."""
    buffers: list[pickle.PickleBuffer] = []
    stream = io.BytesIO()
    pickle.Pickler(stream, 5, buffer_callback=buffers.append).dump(message)
    views = [stream.getbuffer(), *(buffer.raw() for buffer in buffers)]
    head = b"".join(len(v).to_bytes(_HEADER, "big") for v in views)
    for view in (memoryview(len(views).to_bytes(_HEADER, "big") + head), *views):
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                _wait(fd, deadline, writing=True)


def _wait(fd: int, deadline: float, *, writing: bool = False) -> None:
    """Until ``fd`` can be read (or written); ``TimedOut`` at ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimedOut
    fds = [fd]
    ready = select.select(
        [] if writing else fds,
        fds if writing else [],
        [],
        None if math.isinf(remaining) else remaining,
    )
    if not any(ready):
        raise TimedOut


def _read(fd: int, deadline: float) -> Message:
    """One whole message. Raises ``TimedOut`` if it did not come before
    ``deadline``, ``Died`` if the other end closed first. Reads no further than the
    message: the pipe may carry the next."""
    return _message(lambda size: _read_exactly(fd, size, deadline))


def _message(read_exactly: Callable[[int], bytes]) -> Message:
    """One whole message, read ``read_exactly(size)`` bytes at a time."""
    count = int.from_bytes(read_exactly(_HEADER), "big")
    head = read_exactly(_HEADER * count)
    sizes = (
        int.from_bytes(head[at : at + _HEADER], "big")
        for at in range(0, len(head), _HEADER)
    )
    payload, *buffers = [read_exactly(size) for size in sizes]
    return pickle.loads(payload, buffers=buffers)  # type: ignore[no-any-return]


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while size:
        _wait(fd, deadline)
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:  # the other end exited without a complete message
            raise Died
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
