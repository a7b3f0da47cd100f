"""Connections for connectors.http: pinned to the address netguard checked, kept
open for the next fetch to the same address, and cut by a watchdog at the fetch's
deadline.

Transport only: no policy decisions (connectors.netguard), no HTTP semantics
(connectors.http). Leans on three stable urllib3 2.x hooks: pool_classes_by_scheme,
HTTPConnectionPool._get_conn and HTTPConnection._new_conn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

log = logging.getLogger(__name__)


class Watchdog:
    """Shuts the fetch's connections down at the deadline, so no wait outlives it.

    Per-read timeouts restart with every byte: a server trickling its TLS handshake,
    headers or body a byte at a time would hold the fetch for hours. A shut-down
    socket wakes the blocked read at once. Sockets are duplicated when tracked, so
    TLS wrapping (which detaches the original) does not lose them, and a closed,
    reused descriptor is never touched.
    """

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._fired = False
        self._timer = _DEADLINES.add(deadline, self._fire)

    def track(self, sock: socket.socket) -> None:
        # By descriptor: an SSLSocket (a reused TLS connection) refuses dup().
        descriptor = os.dup(sock.fileno())
        duplicate = socket.socket(sock.family, sock.type, sock.proto, descriptor)
        with self._lock:
            self._sockets.append(duplicate)
            fired = self._fired
        if fired:
            _shutdown(duplicate)

    def stop(self) -> None:
        _DEADLINES.cancel(self._timer)
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


class _Deadlines:
    """One daemon thread that calls each watchdog at its deadline: a fetch starts no
    thread of its own (a 304 costs ~3 ms; a timer thread per fetch was a tenth of
    it). Cancelled entries are dropped when they come up or when they outnumber the
    live ones."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._heap: list[_Deadline] = []
        self._cancelled = 0
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, fire: Callable[[], None]) -> _Deadline:
        entry = _Deadline(when, next(self._order), fire)
        with self._ready:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fetch-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0] is entry:  # else the thread wakes earlier anyway
                self._ready.notify()
        return entry

    def cancel(self, entry: _Deadline) -> None:
        with self._ready:
            if entry.fire is None:
                return
            entry.fire = None
            self._cancelled += 1
            if self._cancelled > len(self._heap) // 2 + 64:
                self._heap = [e for e in self._heap if e.fire is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._ready:
                while True:
                    while self._heap and self._heap[0].fire is None:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._ready.wait()
                        continue
                    wait = self._heap[0].when - time.monotonic()
                    if wait <= 0:
                        break
                    self._ready.wait(wait)
                entry = heapq.heappop(self._heap)
                fire, entry.fire = entry.fire, None
            if fire is None:
                continue
            try:  # outside the lock: it takes the watchdog's
                fire()
            except Exception:  # the thread must go on: it holds every deadline
                log.exception("a fetch's watchdog failed at its deadline")

    def _after_fork(self) -> None:
        # A forked child has no deadline thread: it starts its own if it fetches.
        self._ready = threading.Condition()
        self._heap, self._cancelled, self._thread = [], 0, None


@dataclasses.dataclass(order=True)
class _Deadline:
    when: float
    order: int
    fire: Callable[[], None] | None = dataclasses.field(compare=False)


_DEADLINES = _Deadlines()
os.register_at_fork(after_in_child=_DEADLINES._after_fork)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Connections:
    """Keep-alive connections to the addresses netguard checked, for the fetches
    that share this object (a harvester's run): the next source or page on a member
    site reuses an open connection instead of a new TCP (and TLS) handshake.

    Pools are keyed by the checked address, port and scheme, and for HTTPS by the
    name the certificate was verified for: a connection is only ever reused for the
    address and TLS name it was opened to. At most ``hosts`` pools are kept (the
    least recently used is closed), each with at most ``per_host`` idle connections.
    ``close()`` closes them all; the object stays usable.
    """

    def __init__(self, hosts: int = 16, per_host: int = 4) -> None:
        self.manager = PoolManager(num_pools=hosts, maxsize=per_host, block=False)
        self.manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def close(self) -> None:
        self.manager.clear()


# Every connection made, for a forked child to let go of their sockets: it never
# fetches with them, and its copy would hold a connection open after the parent
# closed it. The child points each descriptor at /dev/null instead of closing the
# connection: what runs right after a fork takes no lock another thread may have
# held then (the pools'), and a descriptor number the socket still holds is never
# handed out again under it.
_CONNECTIONS: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()


def _release_in_child() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for conn in list(_CONNECTIONS):
            sock = conn.sock
            descriptor = -1 if sock is None else sock.fileno()
            if descriptor >= 0:
                os.dup2(null, descriptor, inheritable=False)
    finally:
        os.close(null)


os.register_at_fork(after_in_child=_release_in_child)


class _Sending(threading.local):
    """What the fetch sending on this thread has told its connections: the
    watchdog that must see each socket it uses, and whether the connection it got
    was an open one reused."""

    watchdog: Watchdog | None = None
    reused = False


_SENDING = _Sending()


def _watch(sock: socket.socket) -> None:
    watchdog = _SENDING.watchdog
    if watchdog is None:  # every send sets one: no connection goes unwatched
        sock.close()
        raise RuntimeError("a connection was opened outside PinnedAdapter.send")
    watchdog.track(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        _CONNECTIONS.add(self)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before the TLS handshake
        _CONNECTIONS.add(self)
        return sock


class _WatchedPool:
    """A reused connection's socket is watched by the fetch that reuses it."""

    def _get_conn(self, timeout: float | None = None) -> HTTPConnection:
        conn: HTTPConnection = super()._get_conn(timeout)  # type: ignore[misc]
        # A connection urllib3 found dropped was closed (its sock is None): it
        # connects again, through _new_conn.
        _SENDING.reused = conn.sock is not None
        if conn.sock is not None:
            _watch(conn.sock)
        return conn


class _HTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Connects to the address netguard checked, whatever the name resolves to now.

    The pool is keyed by that address; the Host header (set by the caller) and TLS
    SNI and certificate verification keep the name (RFC 6066 §3, RFC 9110 §4.3.4).
    One adapter serves one fetch, so the pin is plain state; its connections come
    from ``connections`` (closing the adapter leaves them open) and are watched by
    the fetch's watchdog while it sends and reads.
    """

    def __init__(self, watchdog: Watchdog, connections: Connections) -> None:
        self.address = ""
        self.watchdog = watchdog
        self.connections = connections
        self.reused = False  # whether the last send went over a reused connection
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        self.poolmanager = self.connections.manager

    def close(self) -> None:
        pass  # the connections are their owner's to close

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        _SENDING.watchdog, _SENDING.reused = self.watchdog, False
        try:
            return super().send(request, **kwargs)
        finally:
            self.reused = _SENDING.reused
            _SENDING.watchdog = None

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        assert self.address, "fetch pins an address before sending"
        try:
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(
                request, verify, cert
            )
        except ValueError as e:
            raise requests.exceptions.InvalidURL(e, request=request) from e
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = self.address
        pool: HTTPConnectionPool = self.poolmanager.connection_from_host(
            **host_params, pool_kwargs=pool_kwargs
        )
        return pool
