"""The one HTTP fetch path of connectors: timeouts and a total deadline, a cap on
decoded bytes, at most 5 redirects, conditional GET, our User-Agent.

Owns the requests.Session; knows nothing of the index or the site.
"""

from __future__ import annotations

import dataclasses
import time

import requests

from connectors.base import FetchError
from connectors.base import FetchResult

USER_AGENT = "ecoop-hub/0.1 (+https://e-cooperation.eu/about/harvester)"
MAX_REDIRECTS = 5


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """Per-fetch limits.

    ``connect_timeout`` and ``read_timeout`` bound each socket wait; ``deadline`` bounds
    the whole fetch (a server trickling a byte at a time defeats a read timeout alone);
    ``max_bytes`` caps the body after decompression.
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
    """Return a Session that identifies the hub and asks for compressed bodies."""
    session = requests.Session()
    session.headers.update({"User-Agent": user_agent, "Accept-Encoding": "gzip"})
    session.max_redirects = MAX_REDIRECTS
    return session


def fetch(
    session: requests.Session,
    url: str,
    *,
    accept: str = "*/*",
    validators: Validators | None = None,
    limits: HttpLimits | None = None,
) -> FetchResult:
    """GET ``url``, conditionally when validators from the last fetch are given.

    Raises:
        FetchError: with class ``timeout``, ``too_large``, ``redirects``,
            ``http_status`` (status and headers attached, e.g. Retry-After),
            ``protocol`` or ``network``.
    """
    limits = limits or HttpLimits()
    headers = {"Accept": accept}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    started = time.monotonic()
    try:
        with session.get(
            url,
            headers=headers,
            timeout=(limits.connect_timeout, limits.read_timeout),
            stream=True,
        ) as response:
            if response.status_code == 304:
                return FetchResult(
                    url=response.url,
                    status=304,
                    headers=dict(response.headers),
                    etag=response.headers.get("ETag", validators and validators.etag),
                    last_modified=response.headers.get(
                        "Last-Modified", validators and validators.last_modified
                    ),
                    not_modified=True,
                )
            if response.status_code >= 400 or response.status_code < 200:
                raise FetchError(
                    url,
                    f"HTTP {response.status_code}",
                    "http_status",
                    status=response.status_code,
                    headers=response.headers,
                )
            body = _read_capped(response, url, limits, started)
    except requests.Timeout as e:
        raise FetchError(url, f"timed out: {e}", "timeout") from e
    except requests.TooManyRedirects as e:
        raise FetchError(
            url, f"more than {MAX_REDIRECTS} redirects", "redirects"
        ) from e
    except (
        requests.exceptions.ContentDecodingError,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    ) as e:
        raise FetchError(url, f"{type(e).__name__}: {e}", "protocol") from e
    except requests.RequestException as e:
        raise FetchError(url, f"{type(e).__name__}: {e}", "network") from e
    return FetchResult(
        url=response.url,
        status=response.status_code,
        headers=dict(response.headers),
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _read_capped(
    response: requests.Response, url: str, limits: HttpLimits, started: float
) -> bytes:
    # iter_content decodes gzip as it streams: the cap applies to decoded bytes.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(
                url, f"body larger than {limits.max_bytes} bytes", "too_large"
            )
        if time.monotonic() - started > limits.deadline:
            raise FetchError(
                url, f"fetch took longer than {limits.deadline:g} s", "timeout"
            )
        chunks.append(chunk)
    return b"".join(chunks)
