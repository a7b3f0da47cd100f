"""Connections for connectors.http: pinned to the address netguard checked, and
cut by a watchdog at the fetch's deadline.

Transport only: no policy decisions (connectors.netguard), no HTTP semantics
(connectors.http). Leans on two stable urllib3 2.x hooks: pool_classes_by_scheme
and HTTPConnection._new_conn.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool


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
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def track(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            fired = self._fired
        if fired:
            _shutdown(duplicate)

    def stop(self) -> None:
        self._timer.cancel()
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


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.watchdog.track(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.watchdog.track(sock)  # before the TLS handshake
        return sock


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Connects to the address netguard checked, whatever the name resolves to now.

    The pool is keyed by that address; the Host header (set by the caller) and TLS
    SNI and certificate verification keep the name (RFC 6066 §3, RFC 9110 §4.3.4).
    One adapter serves one fetch, so the pin is plain state; its connections are
    watched by the fetch's watchdog.
    """

    def __init__(self, watchdog: Watchdog) -> None:
        self.address = ""
        self.watchdog = watchdog
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools = {"http": _HTTPPool, "https": _HTTPSPool}
        self.poolmanager.pool_classes_by_scheme = pools

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
        pool.conn_kw["watchdog"] = self.watchdog  # not a pool key: set on the pool
        return pool
