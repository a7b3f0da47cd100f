"""Kept-alive connections (connectors.transport.Connections): reused for the next
fetch to the same checked address, never across TLS names, watched by each fetch's
deadline, dropped by forked children, and closed at the end of a harvester's run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LOOPBACK
from helpers import TLS_NAME
from helpers import Clock
from helpers import server_context
from helpers import tcp_server
from helpers import write_registry
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.base import FetchError
from connectors.http import HttpLimits
from connectors.http import Validators
from connectors.http import fetch
from connectors.http import make_http
from connectors.netguard import NetworkPolicy
from connectors.transport import Connections
from hub import index
from hub.harvest import Harvester
from hub.registry import load

RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


# --- a raw server that keeps connections open -------------------------------------

# (connection number, request number on it, request head) -> the bytes to answer,
# or None to hang up without answering, or a callable that answers byte by byte.
Answer = bytes | None | Callable[[socket.socket], None]


@contextlib.contextmanager
def raw_keepalive(
    answer: Callable[[int, int, bytes], Answer],
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[str, dict[int, threading.Event]]]:
    """A TCP server on loopback that keeps connections open (HTTP/1.1, as member
    sites' servers do), reads each request of each connection and answers as
    ``answer`` says; yields its URL and, by connection number, an event set when the
    client closed that connection (or, over ``tls``, failed its handshake)."""
    closed: dict[int, threading.Event] = {}

    def serve(conn: socket.socket, number: int, stop: threading.Event) -> None:
        gone = closed[number] = threading.Event()  # before any answer is sent
        if tls is not None:
            try:
                conn.settimeout(5)
                conn = tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):  # a client that refused the certificate
                gone.set()
                return
        conn.settimeout(0.05)
        buffered, served = b"", 0
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    gone.set()
                    return
                buffered += data
                while b"\r\n\r\n" in buffered:
                    head, buffered = buffered.split(b"\r\n\r\n", 1)
                    reply = answer(number, served, head)
                    served += 1
                    if reply is None:
                        return
                    try:
                        if callable(reply):
                            reply(conn)
                        else:
                            conn.sendall(reply)
                    except OSError:
                        return

    with tcp_server(serve) as port:
        scheme = "http" if tls is None else "https"
        yield f"{scheme}://127.0.0.1:{port}/feed", closed


OK = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "v1"\r\n'
    + f"Content-Length: {len(RSS)}\r\n\r\n".encode()
    + RSS
)
NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'


def feed(connection: int, request: int, head: bytes) -> Answer:
    return NOT_MODIFIED if b'if-none-match: "v1"' in head.lower() else OK


def test_fetches_through_one_connections_share_one_connection() -> None:
    connections, http = Connections(), make_http()
    with raw_keepalive(feed) as (url, closed):
        try:
            first = fetch(http, url, policy=LOOPBACK, connections=connections)
            again = fetch(http, url, policy=LOOPBACK, connections=connections)
            unchanged = [
                fetch(
                    http,
                    url,
                    policy=LOOPBACK,
                    validators=Validators(etag='"v1"'),
                    connections=connections,
                )
                for _ in range(2)
            ]
            assert len(closed) == 1  # bodies and 304s alike
            assert not closed[0].is_set()  # kept for the next fetch
        finally:
            connections.close()
        assert closed[0].wait(1)
    assert first.body == again.body == RSS
    assert all(result.not_modified for result in unchanged)


def test_a_fetch_without_connections_keeps_none() -> None:
    with raw_keepalive(feed) as (url, closed):
        fetch(make_http(), url, policy=LOOPBACK)
        fetch(make_http(), url, policy=LOOPBACK)
        assert len(closed) == 2
        assert closed[0].wait(1)


def test_a_tls_connection_is_reused_only_for_the_name_it_was_verified_for(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    context, names = server_context(cert, key)
    http, connections = make_http(), Connections()
    http.verify = str(cert)
    with raw_keepalive(lambda *request: OK, tls=context) as (url, closed):
        port = url.split(":")[2].split("/")[0]
        # Both names resolve to the server; only TLS_NAME is on its certificate.
        policy = NetworkPolicy(
            allow=("127.0.0.1/32",), resolver=lambda host, port: ["127.0.0.1"]
        )
        try:
            for _ in range(2):
                result = fetch(
                    http,
                    f"https://{TLS_NAME}:{port}/feed",
                    policy=policy,
                    connections=connections,
                )
                assert result.body == RSS
            assert names == [TLS_NAME] and len(closed) == 1  # one handshake
            # The same address under another name: a handshake of its own, which
            # the certificate fails, never the connection verified for TLS_NAME.
            with pytest.raises(FetchError) as info:
                fetch(
                    http,
                    f"https://other.member.test:{port}/feed",
                    policy=policy,
                    connections=connections,
                )
        finally:
            connections.close()
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    assert names == [TLS_NAME, "other.member.test"]


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    # The server hangs up on the second request of its first connection, as one
    # whose idle timeout struck just as the request left.
    def answer(connection: int, request: int, head: bytes) -> Answer:
        return None if (connection, request) == (0, 1) else OK

    connections = Connections()
    with raw_keepalive(answer) as (url, closed):
        try:
            fetch(make_http(), url, policy=LOOPBACK, connections=connections)
            result = fetch(make_http(), url, policy=LOOPBACK, connections=connections)
        finally:
            connections.close()
        assert result.body == RSS
        assert len(closed) == 2


def test_a_new_connection_that_hangs_up_is_not_tried_again() -> None:
    connections = Connections()
    with raw_keepalive(lambda *request: None) as (url, closed):
        with pytest.raises(FetchError) as info:
            fetch(make_http(), url, policy=LOOPBACK, connections=connections)
        connections.close()
        assert info.value.error_class == "network"
        assert len(closed) == 1


def test_the_deadline_cuts_a_reused_connection() -> None:
    def trickle(conn: socket.socket) -> None:  # headers: no read times out
        for byte in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"x" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.05)

    def answer(connection: int, request: int, head: bytes) -> Answer:
        return OK if request == 0 else trickle

    connections = Connections()
    limits = HttpLimits(deadline=0.6)
    with raw_keepalive(answer) as (url, closed):
        try:
            fetch(make_http(), url, policy=LOOPBACK, connections=connections)
            started = time.monotonic()
            with pytest.raises(FetchError) as info:
                fetch(
                    make_http(),
                    url,
                    policy=LOOPBACK,
                    limits=limits,
                    connections=connections,
                )
            took = time.monotonic() - started
        finally:
            connections.close()
        assert info.value.error_class == "timeout"
        assert took < 3  # the trickle would take 6 s
        assert len(closed) == 1  # it was the reused connection that was cut


@contextlib.contextmanager
def held_by_another_thread(
    lock: contextlib.AbstractContextManager[object],
) -> Iterator[None]:
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(5)
    try:
        yield
    finally:
        done.set()
        holder.join()


def reaped_within(pid: int, seconds: float) -> bool:
    """Whether child ``pid`` ended by itself within ``seconds``; killed if not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def test_a_forked_child_drops_its_copies_of_open_connections() -> None:
    connections = Connections()
    with raw_keepalive(lambda *request: OK) as (url, closed):
        fetch(make_http(), url, policy=LOOPBACK, connections=connections)
        # Forked while another thread holds the pools' lock: the child must not wait
        # for it (its copy stays taken forever).
        with held_by_another_thread(connections.manager.pools.lock):
            pid = os.fork()
            if pid == 0:  # the child outlives the parent's close by seconds
                time.sleep(3)
                os._exit(0)
        try:
            connections.close()
            # Had the child kept its copy, the server would see no end until it exits.
            assert closed[0].wait(1.5)
        finally:
            exited = reaped_within(pid, 10)
        assert exited


# --- the harvester ------------------------------------------------------------------


def test_a_harvester_run_shares_connections_and_closes_them_when_it_ends(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    with raw_keepalive(feed) as (url, closed):
        urls = {f"s{n}": f"{url}?n={n}" for n in range(3)}
        registry = load(write_registry(tmp_path / "clusters.yaml", urls))
        with sessions() as db:
            index.sync_registry(db, registry, clock())
        keys = [f"metal/s{n}" for n in range(3)]
        first = harvester.run(due_only=False, keys=keys)
        assert len(closed) == 1  # one host, one fetch at a time: one connection
        assert closed[0].wait(1)  # closed as the run ended
        second = harvester.run(due_only=False, keys=keys)
        assert len(closed) == 2 and closed[1].wait(1)
    assert [s.status for s in first] == ["ok"] * 3
    assert [s.status for s in second] == ["not_modified"] * 3
