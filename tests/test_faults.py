"""Fault injection: hostile and broken member sites on loopback.

Each fault ends in one error class of connectors.base.ERROR_CLASSES: from fetch(),
or from the RSS connector's parse() for bodies that arrive intact but are no feed.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import tcp_server
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response

from connectors import get_connector
from connectors.base import ERROR_CLASSES
from connectors.base import FetchError
from connectors.base import ParseError
from connectors.base import Source
from connectors.http import HttpLimits
from connectors.http import fetch
from connectors.http import make_http
from connectors.netguard import NetworkPolicy

LOOPBACK = NetworkPolicy(allow=("127.0.0.1/32",))
RSS = (Path(__file__).resolve().parent / "data" / "rss" / "basic.xml").read_bytes()
MB = 1024 * 1024
# Generous enough for a loaded CI machine; the tests about time pass their own limits.
QUICK = HttpLimits(connect_timeout=2, read_timeout=2, deadline=6, max_bytes=MB)


def fetch_error(url: str, limits: HttpLimits = QUICK) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(make_http(), url, limits=limits, policy=LOOPBACK)
    assert info.value.error_class in ERROR_CLASSES
    return info.value


def parse_error(url: str) -> ParseError:
    result = fetch(make_http(), url, limits=QUICK, policy=LOOPBACK)
    source = Source(key="c/s", cluster="c", type="rss", url=url, interval=timedelta(1))
    with pytest.raises(ParseError) as info:
        get_connector("rss").parse(source, result)
    assert info.value.error_class in ERROR_CLASSES
    return info.value


Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that reads the request and lets ``handler`` answer
    (or not) at the byte level; ``stop`` is set when the test is over."""

    def serve(conn: socket.socket, _number: int, stop: threading.Event) -> None:
        with conn:
            try:
                conn.recv(65536)
                handler(conn, stop)
            except OSError:  # the client gave up: that is the point
                pass

    with tcp_server(serve) as port:
        yield f"http://127.0.0.1:{port}"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"


# --- time -----------------------------------------------------------------------


def test_a_server_that_accepts_and_never_answers_times_out() -> None:
    limits = HttpLimits(connect_timeout=1, read_timeout=0.5, deadline=3)
    with raw_server(lambda conn, stop: stop.wait(10)) as url:
        started = time.monotonic()
        error = fetch_error(url + "/feed", limits)
    assert error.error_class == "timeout" and time.monotonic() - started < 2
    assert error.message == "timed out waiting for data (0.5 s without a byte)"


def test_a_server_that_stops_after_the_headers_times_out() -> None:
    def headers_only(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 5000\r\n\r\n<rss>")
        stop.wait(10)

    with raw_server(headers_only) as url:
        error = fetch_error(url + "/feed")
    assert error.error_class == "timeout"
    assert (
        error.message
        == f"timed out waiting for data ({QUICK.read_timeout:g} s without a byte)"
    )


def test_the_deadline_stops_a_server_trickling_a_byte_at_a_time() -> None:
    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
        for _ in range(250):  # 5 s, each byte in time for the read timeout
            if stop.wait(0.02):
                return
            conn.sendall(b"<")

    limits = HttpLimits(read_timeout=5, deadline=0.5)
    with raw_server(trickle) as url:
        started = time.monotonic()
        error = fetch_error(url + "/feed", limits)
    assert error.error_class == "timeout" and "longer than 0.5 s" in error.message
    assert time.monotonic() - started < 1.5


def test_the_deadline_cuts_a_read_the_read_timeout_would_allow() -> None:
    def slow(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 100\r\n\r\n<rss")
        if not stop.wait(3):  # under the 5 s read timeout, over the deadline
            conn.sendall(b"<")

    limits = HttpLimits(read_timeout=5, deadline=0.6)
    with raw_server(slow) as url:
        started = time.monotonic()
        error = fetch_error(url + "/feed", limits)
    assert error.error_class == "timeout" and "longer than 0.6 s" in error.message
    assert time.monotonic() - started < 1.5


def test_the_deadline_stops_a_server_trickling_its_headers() -> None:
    """http.client reads headers line by line: only the watchdog can stop this."""

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(100):  # 5 s, each byte in time for the read timeout
            if stop.wait(0.05):
                return
            conn.sendall(b"z")

    limits = HttpLimits(read_timeout=5, deadline=0.5)
    with raw_server(trickle) as url:
        started = time.monotonic()
        error = fetch_error(url + "/feed", limits)
    assert error.error_class == "timeout" and "longer than 0.5 s" in error.message
    assert time.monotonic() - started < 1.5


def test_the_deadline_covers_every_hop_of_a_redirect_chain() -> None:
    def slow_redirect(conn: socket.socket, stop: threading.Event) -> None:
        stop.wait(0.3)
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"
        )

    limits = HttpLimits(read_timeout=5, deadline=1.0)
    with raw_server(slow_redirect) as url:
        started = time.monotonic()
        error = fetch_error(url + "/feed", limits)
    assert error.error_class == "timeout"
    assert time.monotonic() - started < 2


def test_concurrent_fetches_are_each_cut_at_their_own_deadline() -> None:
    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
        for _ in range(250):
            if stop.wait(0.02):
                return
            conn.sendall(b"<")

    # One deadline thread serves every fetch: a later deadline set first, an earlier
    # one after it, and a third, shortest one while both wait.
    finished: dict[float, float] = {}

    def timed(url: str, deadline: float) -> None:
        started = time.monotonic()
        error = fetch_error(
            url + "/feed", HttpLimits(read_timeout=5, deadline=deadline)
        )
        assert error.error_class == "timeout"
        finished[deadline] = time.monotonic() - started

    with raw_server(trickle) as url:
        threads = [
            threading.Thread(target=timed, args=(url, deadline))
            for deadline in (1.2, 0.4)
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        fetch_error(url + "/missing", HttpLimits(read_timeout=5, deadline=0.1))
        for thread in threads:
            thread.join(5)
    # Neither waits for the other's deadline, nor is cut at it.
    assert 0.35 < finished[0.4] < 1.0 and 1.1 < finished[1.2] < 2.5
    names = [t.name for t in threading.enumerate()]
    assert names.count("fetch-deadlines") == 1


# --- size and compression -----------------------------------------------------------


def test_a_declared_huge_body_is_refused_before_it_is_read() -> None:
    def huge(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 10000000000\r\n\r\n<rss>")
        stop.wait(10)

    with raw_server(huge) as url:
        assert fetch_error(url + "/feed").error_class == "too_large"


def test_an_endless_chunked_body_is_cut_at_the_cap(httpserver: HTTPServer) -> None:
    def endless(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            while True:
                yield b"<item/>" * 10_000

        return Response(chunks(), content_type="application/rss+xml")

    httpserver.expect_request("/feed").respond_with_handler(endless)
    error = fetch_error(httpserver.url_for("/feed"))
    assert error.error_class == "too_large"


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MB of spaces in about 100 kB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * MB
    return b"".join([*(packer.compress(block) for _ in range(100)), packer.flush()])


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "gzip, identity"])
def test_a_gzip_bomb_never_inflates_in_memory(bomb: bytes, coding: str) -> None:
    def send_bomb(conn: socket.socket, stop: threading.Event) -> None:
        head = f"Content-Encoding: {coding}\r\nContent-Length: {len(bomb)}\r\n\r\n"
        conn.sendall(HEAD + head.encode() + bomb)

    with raw_server(send_bomb) as url:
        tracemalloc.start()
        try:
            error = fetch_error(url + "/feed")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert error.error_class == "too_large"
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB"


def test_a_deflate_bomb_is_cut_at_the_cap(httpserver: HTTPServer) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    body = b"".join([*(packer.compress(b"\0" * MB) for _ in range(20)), packer.flush()])
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"Content-Encoding": "deflate"}
    )
    assert fetch_error(httpserver.url_for("/feed")).error_class == "too_large"


def test_gzip_inside_gzip_inside_gzip_is_refused(httpserver: HTTPServer) -> None:
    body = gzip.compress(gzip.compress(gzip.compress(RSS)))
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"Content-Encoding": "gzip, gzip, gzip"}
    )
    error = fetch_error(httpserver.url_for("/feed"))
    assert error.error_class == "protocol" and "at most 2" in error.message


def test_two_codings_are_decoded(httpserver: HTTPServer) -> None:
    body = zlib.compress(gzip.compress(RSS))  # gzip first, then deflate (zlib)
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"Content-Encoding": "gzip, deflate"}
    )
    result = fetch(make_http(), httpserver.url_for("/feed"), policy=LOOPBACK)
    assert result.body == RSS


def test_gzip_members_are_all_decoded(httpserver: HTTPServer) -> None:
    half = len(RSS) // 2
    body = gzip.compress(RSS[:half]) + gzip.compress(RSS[half:])  # RFC 1952 §2.2
    httpserver.expect_request("/feed").respond_with_data(
        body, headers={"Content-Encoding": "gzip"}
    )
    result = fetch(make_http(), httpserver.url_for("/feed"), policy=LOOPBACK)
    assert result.body == RSS


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_a_coding_we_did_not_ask_for_is_refused(
    httpserver: HTTPServer, coding: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS, headers={"Content-Encoding": coding}
    )
    assert fetch_error(httpserver.url_for("/feed")).error_class == "protocol"


def test_a_corrupt_gzip_body_is_a_protocol_error(httpserver: HTTPServer) -> None:
    body = bytearray(gzip.compress(RSS))
    body[20:40] = b"\xff" * 20
    httpserver.expect_request("/feed").respond_with_data(
        bytes(body), headers={"Content-Encoding": "gzip"}
    )
    assert fetch_error(httpserver.url_for("/feed")).error_class == "protocol"


# --- broken HTTP and broken bodies ------------------------------------------------


def test_a_server_speaking_garbage_is_a_protocol_error() -> None:
    def garbage(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")

    with raw_server(garbage) as url:
        assert fetch_error(url + "/feed").error_class == "protocol"


def test_a_body_shorter_than_its_length_is_a_protocol_error() -> None:
    def short(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + b"Content-Length: 5000\r\n\r\n" + RSS[:100])

    with raw_server(short) as url:
        assert fetch_error(url + "/feed").error_class == "protocol"


# A run's error is shown on the status page: the system's words, not the wrappers'
# ("Max retries exceeded with url: ... _HTTPPool(host=...) ... NewConnectionError").


def test_a_server_that_hangs_up_before_answering_is_a_network_error() -> None:
    with raw_server(lambda conn, stop: None) as url:
        error = fetch_error(url + "/feed")
    assert (error.error_class, error.message) == (
        "network",
        "ConnectionError: Remote end closed connection without response",
    )


def test_a_refused_connection_is_a_network_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/feed")
    assert (error.error_class, error.message) == (
        "network",
        "ConnectionError: Connection refused",
    )


@pytest.mark.parametrize(
    ("body", "error_class"),
    [
        (bytes(range(256)) * 40, "not_a_feed"),
        (b"<!DOCTYPE html><html><body><form>Log in</form></body></html>", "not_a_feed"),
        (b"", "empty_body"),
    ],
    ids=["garbage", "login page", "empty"],
)
def test_a_body_that_is_no_feed_is_a_parse_error(
    httpserver: HTTPServer, body: bytes, error_class: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        body, content_type="application/rss+xml"
    )
    assert parse_error(httpserver.url_for("/feed")).error_class == error_class


def test_truncated_xml_is_a_parse_error(httpserver: HTTPServer) -> None:
    cut = RSS.index(b"</item>") + len(b"</item>") + 40  # inside the second item
    httpserver.expect_request("/feed").respond_with_data(
        RSS[:cut], content_type="application/rss+xml"
    )
    assert parse_error(httpserver.url_for("/feed")).error_class == "parse"


# --- status and redirects -----------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_busy_servers_are_http_status_errors_with_retry_after(
    httpserver: HTTPServer, status: int
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "slow down", status=status, headers={"Retry-After": "120"}
    )
    error = fetch_error(httpserver.url_for("/feed"))
    assert (error.error_class, error.status) == ("http_status", status)
    assert error.headers["Retry-After"] == "120"


def test_a_redirect_loop_ends_as_a_redirects_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": "/b"}
    )
    httpserver.expect_request("/b").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/a")}
    )
    assert fetch_error(httpserver.url_for("/a")).error_class == "redirects"
    assert len(httpserver.log) == 6  # the first request and five redirects


def test_a_redirect_without_location_is_an_http_status_error(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/feed").respond_with_data("", status=302)
    assert fetch_error(httpserver.url_for("/feed")).error_class == "http_status"


@pytest.mark.parametrize(
    "target",
    [
        "http://192.168.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://0x7f.0.0.2:{port}/feed",  # 127.0.0.2: loopback, not allowed
        "gopher://127.0.0.1:{port}/",
    ],
)
def test_a_redirect_to_a_private_address_is_blocked(
    httpserver: HTTPServer, target: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "", status=307, headers={"Location": target.format(port=httpserver.port)}
    )
    assert fetch_error(httpserver.url_for("/feed")).error_class == (
        "blocked_destination"
    )
    assert len(httpserver.log) == 1
