"""The one HTTP fetch path of connectors: every hop's destination checked and pinned,
at most 5 redirects, timeouts and a total deadline, a cap on wire and decoded bytes,
conditional GET, our User-Agent.

Owns the requests.Session use and content decoding; knows nothing of the index or
the site. Where a fetch may go is decided by connectors.netguard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import io
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.cookies import RequestsCookieJar
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri

from connectors import netguard
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.codings import CHUNK
from connectors.codings import CodingError
from connectors.codings import Decoder
from connectors.codings import parse_codings
from connectors.netguard import NetworkPolicy
from connectors.transport import Connections
from connectors.transport import PinnedAdapter
from connectors.transport import Watchdog

USER_AGENT = "ecoop-hub/0.1 (+https://e-cooperation.eu/about/harvester)"
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})  # RFC 9110 §15.4
PUBLIC_ONLY = NetworkPolicy()


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """Per-fetch limits.

    ``connect_timeout`` and ``read_timeout`` bound each socket wait; ``deadline`` bounds
    the whole fetch, redirects included (a server trickling a byte at a time defeats
    a read timeout alone); ``max_bytes`` caps the body on the wire and after
    decompression.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Validators:
    """What the last fetch returned, sent back exactly (RFC 9110 §13.1)."""

    etag: str | None = None
    last_modified: str | None = None


def make_http(user_agent: str = USER_AGENT) -> requests.Session:
    """Return a Session that identifies the hub and asks for gzip bodies.

    ``trust_env`` is off: fetch connects directly to the address it checked, so no
    proxy, ``.netrc`` or CA bundle is taken from the environment.
    """
    session = requests.Session()
    session.headers.update({"User-Agent": user_agent, "Accept-Encoding": "gzip"})
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    return session


def fetch(
    session: requests.Session,
    url: str,
    *,
    accept: str = "*/*",
    validators: Validators | None = None,
    limits: HttpLimits | None = None,
    policy: NetworkPolicy | None = None,
    connections: Connections | None = None,
    spill: int | None = None,
) -> FetchResult:
    """GET ``url``, conditionally when validators from the last fetch are given.

    Each hop's scheme and address are checked against ``policy`` (default: public
    addresses only) and the connection goes to the checked address. Redirects are
    followed here, at most MAX_REDIRECTS. Session headers (User-Agent), ``verify``
    and ``cert`` apply, not its cookies, auth or params; cookies live for one
    fetch. A connection left open by an earlier fetch through ``connections`` to
    the same checked address is reused, and this fetch's is left there when its
    response was read to the end (none is kept without ``connections``).

    ``spill``: a body that grows past this many bytes goes on arriving into a
    temporary file in $TMPDIR, not memory (``FetchResult.body_path``; the caller
    deletes it). A fetch that fails leaves no file.

    Raises:
        FetchError: with class ``timeout``, ``too_large``, ``blocked_destination``,
            ``redirects``, ``http_status`` (status and headers attached, e.g.
            Retry-After), ``protocol`` or ``network``.
    """
    limits = limits or HttpLimits()
    policy = policy or PUBLIC_ONLY
    deadline = time.monotonic() + limits.deadline
    headers = {"Accept": accept}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    jar = RequestsCookieJar()
    watchdog = Watchdog(deadline)
    own = connections is None
    adapter = PinnedAdapter(watchdog, connections or Connections(hosts=1, per_host=1))
    try:
        with _translated(url, limits, deadline):
            for hop in range(MAX_REDIRECTS + 1):
                response = _open(
                    session, adapter, url, (headers, jar), policy, limits, deadline
                )
                with response:
                    if response.status_code not in REDIRECTS:
                        return _result(
                            response, url, validators, limits, deadline, spill
                        )
                    target = session.get_redirect_target(response)
                    if not target:
                        raise _status_error(url, response)
                    if hop == MAX_REDIRECTS:
                        raise FetchError(
                            url, f"more than {MAX_REDIRECTS} redirects", "redirects"
                        )
                    # The body of a redirect is never read (nor inflated: cf. urllib3
                    # CVE-2026-21441); closing drops the connection.
                    url = requote_uri(urljoin(response.url, target))
    finally:
        if own:
            adapter.connections.close()
        watchdog.stop()
    raise AssertionError("unreachable")  # pragma: no cover


def _open(
    session: requests.Session,
    adapter: PinnedAdapter,
    url: str,
    state: tuple[dict[str, str], RequestsCookieJar],
    policy: NetworkPolicy,
    limits: HttpLimits,
    deadline: float,
) -> requests.Response:
    """Send one hop to its checked addresses in turn (on connect failure only)."""
    headers, jar = state
    request = _prepare(session, url, headers, jar)
    assert request.url is not None
    destination = netguard.check_url(request.url, policy)
    # The pool connects to an address, so http.client would name the address.
    request.headers["Host"] = urlsplit(request.url).netloc.rpartition("@")[2]
    for i, address in enumerate(destination.addresses):
        adapter.address = address
        try:
            response = _send(session, adapter, request, url, limits, deadline)
        except requests.ConnectionError as e:
            if i + 1 < len(destination.addresses) and _connect_failed(e):
                continue
            raise
        extract_cookies_to_jar(jar, request, response.raw)
        return response
    raise AssertionError("unreachable")  # pragma: no cover


def _prepare(
    session: requests.Session, url: str, headers: dict[str, str], jar: RequestsCookieJar
) -> requests.PreparedRequest:
    """A GET of ``url`` with the session's headers under ``headers`` and the fetch's
    cookies: what ``session.prepare_request`` makes of it (the hub's sessions have
    no cookies, auth or params of their own) at half its cost, which is spent on
    merging settings this fetch does not have (~130 -> ~60 us; of a 304 from a
    kept-alive connection, ~0.9 ms)."""
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers)
    request = requests.PreparedRequest()
    request.prepare(
        method="GET", url=url, headers=merged, cookies=jar, hooks=session.hooks
    )
    return request


def _send(
    session: requests.Session,
    adapter: PinnedAdapter,
    request: requests.PreparedRequest,
    url: str,
    limits: HttpLimits,
    deadline: float,
) -> requests.Response:
    """Send ``request`` to the adapter's address; again on a new connection when a
    reused one turns out closed by the server while it was idle (RFC 9112 §9.3.1:
    a GET may be retried). Each retry spends one pooled connection, so they end."""
    while True:
        remaining = _remaining(url, limits, deadline)
        connect = min(limits.connect_timeout, remaining)
        read = min(limits.read_timeout, remaining)
        try:
            return adapter.send(
                request,
                stream=True,
                timeout=(connect, read),
                verify=session.verify,
                cert=session.cert,
                proxies={},
            )
        except requests.ConnectionError as e:
            if not adapter.reused or isinstance(e, requests.Timeout):
                raise


def _result(
    response: requests.Response,
    url: str,
    validators: Validators | None,
    limits: HttpLimits,
    deadline: float,
    spill: int | None,
) -> FetchResult:
    status = response.status_code
    if status == 304:  # validators the answer leaves out stay as they were
        # Its empty body read: the connection goes back for the next fetch.
        response.raw.read(decode_content=False)
        last = validators or Validators()
        return FetchResult(
            url=response.url,
            status=304,
            headers=dict(response.headers),
            etag=response.headers.get("ETag") or last.etag,
            last_modified=response.headers.get("Last-Modified") or last.last_modified,
            not_modified=True,
        )
    if not 200 <= status < 300:
        raise _status_error(url, response)
    codings = parse_codings(response.headers.get("Content-Encoding", ""))
    length = response.headers.get("Content-Length", "")
    if not codings and length.isdigit() and int(length) > limits.max_bytes:
        raise _too_large(url, limits)
    body = _Body(spill)
    try:
        _read_body(response, Decoder(codings), url, limits, deadline, body)
        content, path = body.done()
    except BaseException:
        body.discard()
        raise
    return FetchResult(
        url=response.url,
        status=status,
        headers=dict(response.headers),
        body=content,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        body_path=path,
    )


def _read_body(
    response: requests.Response,
    decoder: Decoder,
    url: str,
    limits: HttpLimits,
    deadline: float,
    body: _Body,
) -> None:
    """Read the body into ``body`` as it arrives, inflating it CHUNK by CHUNK under
    the caps.

    ``read1`` returns what one socket read brings, so the caps and the deadline are
    checked after every read (the watchdog ends a read that would outlive it).
    """
    raw = response.raw
    size = wire = 0
    while True:
        data = raw.read1(CHUNK, decode_content=False)
        if time.monotonic() > deadline:
            raise _late(url, limits)
        wire += len(data)
        if wire > limits.max_bytes:
            raise _too_large(url, limits)
        for piece in decoder.feed(data) if data else decoder.finish():
            size += len(piece)
            if size > limits.max_bytes:
                raise _too_large(url, limits)
            body.write(piece)
        if not data:
            return


BODY_PREFIX = "ecoop-body-"  # of a spilled body's file in $TMPDIR
STALE_BODY = 6 * 3600  # seconds: a spilled body's file lives for one fetch and parse


def remove_stale_bodies(now: float | None = None) -> int:
    """Delete spilled bodies' files older than STALE_BODY in $TMPDIR: what a killed
    harvester left (one alive deletes its own). Returns how many went."""
    now = time.time() if now is None else now
    removed = 0
    directory = tempfile.gettempdir()
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if not name.startswith(BODY_PREFIX):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - os.stat(path).st_mtime > STALE_BODY:
                os.unlink(path)
                removed += 1
    return removed


class _Body:
    """A body as it arrives: in memory, then, past ``spill`` bytes, in a temporary
    file (what memory held moves there)."""

    def __init__(self, spill: int | None) -> None:
        self.spill = spill
        # BytesIO, not a list to join: getvalue() hands over its buffer without a
        # copy, so a big body is held once, not twice, at its peak.
        self.memory = io.BytesIO()
        self.file: Any = None  # a NamedTemporaryFile, once spilled

    def write(self, piece: bytes) -> None:
        if self.file is not None:
            self.file.write(piece)
            return
        self.memory.write(piece)
        if self.spill is not None and self.memory.tell() > self.spill:
            self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (done, discard)
                prefix=BODY_PREFIX, delete=False
            )
            with self.memory.getbuffer() as held:
                self.file.write(held)
            self.memory = io.BytesIO()

    def done(self) -> tuple[bytes, str | None]:
        """The body, or b"" and the path of the file holding it."""
        if self.file is None:
            return self.memory.getvalue(), None
        self.file.close()
        return b"", str(self.file.name)

    def discard(self) -> None:
        """Forget a body not read to its end; its file is deleted."""
        if self.file is not None:
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.file.name)


def _remaining(url: str, limits: HttpLimits, deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _late(url, limits)
    return remaining


def _connect_failed(error: requests.ConnectionError) -> bool:
    """Whether the error happened before a byte was sent (try the next address)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


@contextlib.contextmanager
def _translated(url: str, limits: HttpLimits, deadline: float) -> Iterator[None]:
    """Turn every failure of requests, urllib3, http.client and zlib into a
    FetchError of the closed set (connectors.base.ERROR_CLASSES)."""
    try:
        yield
    except FetchError:
        raise
    except (
        CodingError,
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        OSError,
    ) as e:
        described = f"{type(e).__name__}: {_system_words(e) or e}"
        if time.monotonic() >= deadline:  # whatever the watchdog's cut looked like
            raise _late(url, limits) from e
        if isinstance(e, CodingError):
            raise FetchError(url, str(e), "protocol") from e
        if isinstance(e, _CONNECT_TIMEOUTS):
            waited = f"connecting ({limits.connect_timeout:g} s)"
            raise FetchError(url, f"timed out {waited}", "timeout") from e
        if isinstance(e, _TIMEOUTS):
            waited = f"waiting for data ({limits.read_timeout:g} s without a byte)"
            raise FetchError(url, f"timed out {waited}", "timeout") from e
        if isinstance(e, _PROTOCOL) or _protocol_cause(e):
            raise FetchError(url, described, "protocol") from e
        raise FetchError(url, described, "network") from e


_CONNECT_TIMEOUTS = (requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)
_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError)
_PROTOCOL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.LocationValueError,
    urllib3.exceptions.DecodeError,
)


def _protocol_cause(error: BaseException) -> bool:
    """Whether the server broke HTTP (a garbage status line, a bad chunk...) rather
    than the network failing (reset, refused, TLS)."""
    return any(
        isinstance(e, http.client.HTTPException)
        and not isinstance(e, http.client.RemoteDisconnected)
        for e in _chain(error)
    )


def _system_words(error: BaseException) -> str | None:
    """What the operating system or TLS said under requests' and urllib3's wrappers
    ("Connection refused", "Remote end closed connection without response",
    "[SSL: CERTIFICATE_VERIFY_FAILED] ..."), if it said
    anything. The wrappers' message ("Max retries exceeded ... _HTTPPool(host=...)
    ... NewConnectionError(...)") is what a run's error showed, on the status page
    too."""
    for e in _chain(error):
        if not isinstance(e, OSError) or isinstance(e, requests.RequestException):
            continue
        if e.strerror:
            return str(e.strerror)
        if e.args and isinstance(e.args[0], str):  # http.client's RemoteDisconnected
            return e.args[0]
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception under it: causes, contexts, urllib3's
    ``reason`` and exceptions among the arguments, each once."""
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        stack.extend(e.args)


def _late(url: str, limits: HttpLimits) -> FetchError:
    return FetchError(url, f"fetch took longer than {limits.deadline:g} s", "timeout")


def _status_error(url: str, response: requests.Response) -> FetchError:
    return FetchError(
        url,
        f"HTTP {response.status_code}",
        "http_status",
        status=response.status_code,
        headers=response.headers,
    )


def _too_large(url: str, limits: HttpLimits) -> FetchError:
    return FetchError(url, f"body larger than {limits.max_bytes} bytes", "too_large")
