"""Test helpers shared by several test modules (plain functions, not fixtures)."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

from connectors.netguard import NetworkPolicy

# Tests fetch from their own servers on loopback, which the default policy refuses.
LOOPBACK = NetworkPolicy(allow=("127.0.0.1/32",))
TLS_NAME = "feeds.member.test"  # the name of conftest's certificate
ROOT = Path(__file__).resolve().parent.parent


def run_capped(code: str, tmp_path: Path, headroom: int = 8 * 1024 * 1024) -> str:
    """Run ``code`` in a fresh interpreter whose address space may grow by at most
    ``headroom`` bytes beyond what it was once ``code``'s imports and setup ran (as
    a parsing worker's, connectors.bounded), and return what it printed. ``code``
    calls ``attempt(function, *args)``: the cap starts, the call is made, and what
    it raised is printed ("MemoryError: ..."). In a subprocess: pytest's own heap
    has freed address space enough to let a test's allocations through."""
    script = tmp_path / "capped.py"
    prelude = """
        import resource

        def attempt(function, *args):
            with open("/proc/self/statm") as statm:
                size = int(statm.read().split()[0]) * resource.getpagesize()
            limit = size + HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
            try:
                function(*args)
            except Exception as e:  # MemoryError included
                print(type(e).__name__ + ":", e)
        """
    script.write_text(
        textwrap.dedent(prelude).replace("HEADROOM", str(headroom))
        + textwrap.dedent(code),
        encoding="utf-8",
    )
    ran = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    return ran.stdout.strip()


def write_registry(
    path: Path,
    sources: dict[str, str],
    *,
    type_: str = "rss",
    options: str = "",
    interval: str = "1h",
) -> Path:
    """A one-cluster registry ("metal") whose sources are ``{id: url}`` of ``type_``;
    ``options`` is YAML added to every source (indented 8 spaces)."""
    entries = "".join(
        f"      - id: {name}\n        type: {type_}\n        url: {url}\n"
        f"        interval: {interval}\n{options}"
        for name, url in sources.items()
    )
    path.write_text(
        "clusters:\n  - slug: metal\n    name: {pl: Metal, lt: Metalas, en: Metal}\n"
        "    country: PL\n    sector: metalworking\n    homepage: https://metal.example/\n"
        f"    languages: [pl]\n    sources:\n{entries}",
        encoding="utf-8",
    )
    return path


T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    """A clock tests move by hand: ``clock.now += timedelta(hours=1)``."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def server_context(cert: Path, key: Path) -> tuple[ssl.SSLContext, list[str | None]]:
    """A TLS server context serving ``cert``, and the list of the names (SNI) its
    handshakes were asked for, in order."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    return context, names


@contextlib.contextmanager
def tcp_server(
    serve: Callable[[socket.socket, int, threading.Event], None],
) -> Iterator[int]:
    """A TCP server on 127.0.0.1 for byte-level answers: each connection goes to
    ``serve`` in a thread of its own, with its number (from 0) and an event set when
    the test is over; yields the port. Every thread is joined at the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(
                target=serve, args=(conn, len(threads), stop), daemon=True
            )
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join()
        for thread in threads:
            thread.join()
        listener.close()
