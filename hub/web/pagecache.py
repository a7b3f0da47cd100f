"""A per-process cache of the pages anonymous visitors get, dropped when the index
changes.

Nearly every request is an anonymous GET of a page that changes only when a harvest
writes: rendering it again (facet counts, cluster summaries, templates) each time is
wasted work. A response is kept when the request carried no cookie and the response
sets none, so nothing personal (an operator's session, a CSRF token) is ever shared.
An entry lives ``ECOOP_PAGE_CACHE_SECONDS`` at most and only while the index version
(the latest harvest's time, read at most once a second) is the one it was rendered
under. Sizes are bounded in bytes; the least recently used entries go first.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request
from flask import session

from hub.db import get_session
from hub.models import Source

MAX_BYTES = 32 * 1024 * 1024  # per process
VERSION_SECONDS = 1.0  # how long a read of the index version is trusted
# Pages that show live operational data or serve one visitor's form.
UNCACHED_ENDPOINTS = frozenset(
    {"root", "health.healthz", "health.readyz", "metrics", "api_v1.sources"}
)
UNCACHED_PREFIXES = ("pages.status", "operator.", "checker.", "api.", "static")


@dataclasses.dataclass(frozen=True)
class _Entry:
    version: datetime | None
    stored_at: float
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class PageCache:
    """The pages of one process; safe to share between threads."""

    def __init__(self, ttl: float, max_bytes: int = MAX_BYTES) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._version: tuple[float, datetime | None] | None = None

    def get(self, key: str, version: datetime | None) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if (
                entry.version != version
                or time.monotonic() - entry.stored_at > self.ttl
            ):
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: _Entry) -> None:
        size = len(entry.body)
        if size > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def version(self) -> datetime | None:
        """When the index last changed: the latest harvest run of any source."""
        now = time.monotonic()
        cached = self._version
        if cached is not None and now - cached[0] < VERSION_SECONDS:
            return cached[1]
        value = get_session().scalar(sa.select(sa.func.max(Source.last_run_at)))
        self._version = (now, value)
        return value

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body)


def init_app(app: Flask) -> None:
    """Serve and keep cacheable pages. Register before ``security.init_app``, so the
    kept response already carries the security headers (after_request handlers run
    in reverse order)."""
    ttl = float(app.config["ECOOP_PAGE_CACHE_SECONDS"])
    if ttl <= 0:
        return
    app.extensions["ecoop.page_cache"] = PageCache(ttl)
    app.before_request(_serve)
    app.after_request(_keep)


def _cache() -> PageCache:
    cache: PageCache = current_app.extensions["ecoop.page_cache"]
    return cache


def _cacheable_request() -> bool:
    endpoint = request.endpoint or ""
    return (
        request.method == "GET"
        and not request.cookies
        and "Authorization" not in request.headers
        and endpoint not in UNCACHED_ENDPOINTS
        and not endpoint.startswith(UNCACHED_PREFIXES)
    )


def _serve() -> Response | None:
    if not _cacheable_request():
        return None
    g.page_version = _cache().version()  # before rendering: a later harvest wins
    entry = _cache().get(request.full_path, g.page_version)
    if entry is None:
        return None
    response = Response(entry.body, status=entry.status, headers=list(entry.headers))
    response.headers["X-Cache"] = "hit"
    return response.make_conditional(request)


def _keep(response: Response) -> Response:
    if (
        response.headers.get("X-Cache") == "hit"
        or not _cacheable_request()
        or response.status_code != 200
        or response.direct_passthrough
        or "Set-Cookie" in response.headers
        or session.modified  # saved after this handler: it would set a cookie
        or "page_version" not in g
    ):
        return response
    body = response.get_data()
    response.add_etag()
    response.headers["X-Cache"] = "miss"
    _cache().put(
        request.full_path,
        _Entry(
            version=g.page_version,
            stored_at=time.monotonic(),
            status=response.status_code,
            headers=tuple(response.headers.items()),
            body=body,
        ),
    )
    return response.make_conditional(request)
