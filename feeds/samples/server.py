"""Loopback HTTP server for the sample member sites in feeds/samples/sites/.

Owns static serving (GET/HEAD), ETag/Last-Modified conditional GET, origin rewriting
and the request log.
"""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import signal
import socket
import socketserver
import sys
import threading
import time
from datetime import UTC
from email.utils import formatdate
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from pathlib import PurePosixPath
from urllib.parse import unquote
from urllib.parse import urlsplit

SITES_ROOT: Path = Path(__file__).resolve().parent / "sites"
METAL_FEED_PATH = "/metalklaster/feed/"
WOOD_FEED_PATH = "/medienospartneriai/atom.xml"

# The static files use this origin for absolute URLs (feed <link>s, canonical links);
# it is replaced by the running server's base_url in every served text document.
ORIGIN_PLACEHOLDER = "http://sample-sites.invalid"
_REWRITTEN_SUFFIXES = frozenset({".xml", ".atom", ".html", ".htm"})
_INDEX_FILES = ("index.xml", "index.html")

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


def content_type_for(rel: PurePosixPath) -> str:
    """Content-Type for a file path relative to the sites root."""
    name, suffix = rel.name.lower(), rel.suffix.lower()
    if suffix == ".atom" or name == "atom.xml":
        return ATOM_TYPE
    if suffix == ".xml":
        return (
            RSS_TYPE if "feed" in rel.parts[:-1] else "application/xml; charset=utf-8"
        )
    if suffix in (".html", ".htm"):
        return HTML_TYPE
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
        etag = make_etag(body)
        last_modified = formatdate(mtime, usegmt=True)
        if self._not_modified(etag, mtime):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._validator_headers(etag, last_modified)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type_for(rel))
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
    """Serves feeds/samples/sites/ on loopback, with conditional GET."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, root: Path | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.root: Path = Path(root if root is not None else SITES_ROOT).resolve()
        self.requests: list[tuple[str, str, int]] = []
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
    args = parser.parse_args(argv)
    try:
        sites = SampleSites(args.host, args.port).start()
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Sample member sites at {sites.base_url}/")
    print(f"  Klaster Obróbki Metali (RSS 2.0):  {sites.url(METAL_FEED_PATH)}")
    print(f"  Medienos partneriai (Atom 1.0):    {sites.url(WOOD_FEED_PATH)}")
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
