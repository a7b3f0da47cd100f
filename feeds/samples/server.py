"""Loopback HTTP server for the sample member sites.

Owns serving (GET/HEAD) of the sites generated from feeds/samples/data/ (see build.py)
and of the static files in feeds/samples/sites/, ETag/Last-Modified conditional GET,
origin rewriting of static files, and the request log.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import mimetypes
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC
from datetime import datetime
from email.utils import formatdate
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from pathlib import PurePosixPath
from urllib.parse import unquote
from urllib.parse import urlsplit

from feeds.samples.build import Document
from feeds.samples.build import build_site
from feeds.samples.data import DATA_DIR
from feeds.samples.data import load_sites
from feeds.samples.data import site_day

SITES_ROOT: Path = Path(__file__).resolve().parent / "sites"
# The generated feeds (paths as in data/<site>.yaml): offers in Atom (read by the
# registry's `type: rss` / `atom`) and JSON Feed, and the firms' company profiles.
METAL_FEED_PATH = "/metalklaster/feed/"
METAL_JSON_FEED_PATH = "/metalklaster/feed/json/"
METAL_COMPANIES_PATH = "/metalklaster/firmy/feed/"
METAL_COMPANIES_JSON_PATH = "/metalklaster/firmy/feed/json/"
WOOD_FEED_PATH = "/medienospartneriai/atom.xml"
WOOD_JSON_FEED_PATH = "/medienospartneriai/feed.json"
WOOD_COMPANIES_PATH = "/medienospartneriai/imones/atom.xml"
WOOD_COMPANIES_JSON_PATH = "/medienospartneriai/imones/feed.json"

# The static files use this origin for absolute URLs (feed <link>s, canonical links);
# it is replaced by the running server's base_url in every served text document.
ORIGIN_PLACEHOLDER = "http://sample-sites.invalid"
_REWRITTEN_SUFFIXES = frozenset({".xml", ".atom", ".html", ".htm"})
_INDEX_FILES = ("index.xml", "index.html")

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def content_type_for(rel: PurePosixPath) -> str:
    """Content-Type for a file path relative to the sites root."""
    name, suffix = rel.name.lower(), rel.suffix.lower()
    if suffix == ".atom" or name == "atom.xml":
        return ATOM_TYPE
    if suffix == ".xml":
        return (
            RSS_TYPE if "feed" in rel.parts[:-1] else "application/xml; charset=utf-8"
        )
    if suffix in (".html", ".htm"):  # static pages: their <meta charset> decides
        return "text/html"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def make_etag(body: bytes) -> str:
    """Strong ETag: a quoted prefix of the sha256 of the served bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _is_traversal(url_path: str) -> bool:
    """True if the path, raw or percent-decoded (repeatedly), has `..`, `\\` or NUL."""
    candidate = url_path
    for _ in range(4):
        if "\\" in candidate or "\x00" in candidate:
            return True
        if any(segment == ".." for segment in candidate.split("/")):
            return True
        decoded = unquote(candidate)
        if decoded == candidate:
            return False
        candidate = decoded
    return True  # suspiciously deep encoding


def _origin(server_address: tuple) -> str:
    host, port = str(server_address[0]), int(server_address[1])
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, sites: SampleSites) -> None:
        self.sites = sites
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's getfqdn(): a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SampleMemberSite/1.0"

    # -- logging: silence stderr, record every response status for tests --
    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if isinstance(code, int) else 0
        method = getattr(self, "command", None) or "-"
        path = getattr(self, "path", None) or "-"
        self.server.sites._record(method, path, status)

    # -- methods --
    def do_GET(self) -> None:
        self._serve(head_only=False)

    def do_HEAD(self) -> None:
        self._serve(head_only=True)

    def _serve(self, head_only: bool) -> None:
        sites = self.server.sites
        url_path = urlsplit(self.path).path
        if not url_path.startswith("/") or _is_traversal(url_path):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        decoded = unquote(url_path)
        generated, modified = sites.generated(_origin(self.server.server_address))
        if decoded in generated:
            doc = generated[decoded]
            self._send(doc.body, doc.content_type, int(modified), head_only)
            return
        if decoded + "/" in generated:
            self._redirect(url_path + "/")
            return
        segments = [s for s in decoded.split("/") if s not in ("", ".")]
        if any(s.startswith(".") for s in segments):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        root = sites.root
        target = root.joinpath(*segments)
        if target.is_dir():
            if not decoded.endswith("/"):
                self._redirect(url_path + "/")
                return
            target = next(
                (target / n for n in _INDEX_FILES if (target / n).is_file()), target
            )
        try:
            resolved = target.resolve(strict=True)
            resolved.relative_to(root)
        except (OSError, ValueError):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if not resolved.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self._send_file(
            resolved, PurePosixPath(resolved.relative_to(root).as_posix()), head_only
        )

    def _send_file(self, path: Path, rel: PurePosixPath, head_only: bool) -> None:
        try:
            body = path.read_bytes()
            mtime = int(path.stat().st_mtime)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if rel.suffix.lower() in _REWRITTEN_SUFFIXES:
            body = body.replace(
                ORIGIN_PLACEHOLDER.encode(),
                _origin(self.server.server_address).encode(),
            )
        self._send(body, content_type_for(rel), mtime, head_only)

    def _send(
        self, body: bytes, content_type: str, mtime: int, head_only: bool
    ) -> None:
        etag = make_etag(body)
        last_modified = formatdate(mtime, usegmt=True)
        if self._not_modified(etag, mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._validator_headers(etag, last_modified)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._validator_headers(etag, last_modified)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _validator_headers(self, etag: str, last_modified: str) -> None:
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Cache-Control", "no-cache")

    def _not_modified(self, etag: str, mtime: int) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip() for t in if_none_match.split(",")]
            # Weak comparison, as RFC 9110 prescribes for If-None-Match.
            return any(t == "*" or t.removeprefix("W/") == etag for t in tags)
        if_modified_since = self.headers.get("If-Modified-Since")
        if not if_modified_since:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return since.timestamp() >= mtime

    def _redirect(self, location: str) -> None:
        query = urlsplit(self.path).query
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location + (f"?{query}" if query else ""))
        self.send_header("Content-Length", "0")
        self.end_headers()


class SampleSites:
    """Serves the sample member sites on loopback, with conditional GET.

    The metal and wood clusters' sites are generated from feeds/samples/data/ for
    the day of ``now`` (a fixed datetime, or the clock when None); any other path is
    a static file under ``root``. ``guard`` is entered while they are built (with
    lxml): a process that also forks (the hub's parsing workers, in ``ecoop demo``)
    passes the guard that keeps forks out of lxml.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        root: Path | None = None,
        *,
        now: datetime | Callable[[], datetime] | None = None,
        data_dir: Path | None = None,
        guard: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.host = host
        self.guard = guard
        self.port = port
        self.root: Path = Path(root if root is not None else SITES_ROOT).resolve()
        self.data_dir = data_dir or DATA_DIR
        self.clock: Callable[[], datetime] = (
            (lambda: now) if isinstance(now, datetime) else now or _utcnow
        )
        self.requests: list[tuple[str, str, int]] = []
        self._built: tuple[object, dict[str, Document], float] | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SampleSites:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("SampleSites is already running")
        if not self.root.is_dir():
            raise FileNotFoundError(f"sample sites root not found: {self.root}")
        server = _Server(self.host, self.port, self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"SampleSites:{server.server_port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """Origin of the running server, e.g. "http://127.0.0.1:41235" (no slash)."""
        server = self._server
        if server is None:
            raise RuntimeError("SampleSites is not running; call start() first")
        return _origin(server.server_address)

    def url(self, path: str) -> str:
        """Absolute URL of a server path such as METAL_FEED_PATH."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def generated(self, origin: str) -> tuple[dict[str, Document], float]:
        """The generated documents by path for a server at ``origin``, and their
        Last-Modified time; rebuilt when the sites' day changes."""
        now = self.clock()
        sites = load_sites(self.data_dir)
        key = (origin, tuple(site_day(site, now) for site in sites))
        with self._lock:
            if self._built is None or self._built[0] != key:
                docs: dict[str, Document] = {}
                with self.guard():
                    for site in sites:
                        docs.update(build_site(site, origin, now))
                start = datetime.combine(max(key[1]), datetime.min.time(), UTC)
                self._built = (key, docs, min(start, now).timestamp())
            return self._built[1], self._built[2]

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def __enter__(self) -> SampleSites:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the sample sites until Ctrl+C and print the feed URLs."""
    parser = argparse.ArgumentParser(
        prog="python -m feeds.samples",
        description="Serve the sample member sites on loopback.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8401,
        help="port (default: 8401, as in config/demo.yaml; 0 = any free port)",
    )
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        help="serve the sites as on this date-time with offset (default: the clock)",
    )
    args = parser.parse_args(argv)
    if args.now is not None and args.now.tzinfo is None:
        parser.error("--now needs an offset, e.g. 2026-11-27T12:00:00+01:00")
    try:
        sites = SampleSites(args.host, args.port, now=args.now).start()
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Sample member sites at {sites.base_url}/")
    for name, paths in (
        ("Klaster Obróbki Metali", (METAL_FEED_PATH, METAL_JSON_FEED_PATH)),
        ("  company profiles", (METAL_COMPANIES_PATH, METAL_COMPANIES_JSON_PATH)),
        ("Medienos partneriai", (WOOD_FEED_PATH, WOOD_JSON_FEED_PATH)),
        ("  company profiles", (WOOD_COMPANIES_PATH, WOOD_COMPANIES_JSON_PATH)),
    ):
        print(f"  {name + ':':24} " + "  ".join(sites.url(p) for p in paths))
    print("Press Ctrl+C to stop.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sites.stop()
    return 0
