"""The one HTTP fetch path of connectors.

Timeouts, size cap, conditional GET, User-Agent. Owns the requests.Session; knows
nothing of the index or the site.
"""

from __future__ import annotations

import dataclasses

import requests

from connectors.base import FetchError
from connectors.base import FetchResult

USER_AGENT = "ecoop-hub/0.1 (+https://e-cooperation.eu/about/harvester)"


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """Per-fetch limits: (connect, read) timeouts in seconds and a cap on body bytes."""

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024


def make_http(user_agent: str = USER_AGENT) -> requests.Session:
    """Return a Session that identifies the hub and asks for compressed bodies."""
    session = requests.Session()
    session.headers.update(
        {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"}
    )
    session.max_redirects = 5
    return session


def fetch(
    session: requests.Session,
    url: str,
    *,
    accept: str = "*/*",
    etag: str | None = None,
    last_modified: str | None = None,
    limits: HttpLimits = HttpLimits(),
) -> FetchResult:
    """GET ``url``, conditionally when validators from the last fetch are given.

    The validators are sent back exactly as received (RFC 9110 §13.1).

    Raises:
        FetchError: network failure, timeout, an HTTP error status or a body over the
            cap.
    """
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
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
                    etag=response.headers.get("ETag", etag),
                    last_modified=response.headers.get("Last-Modified", last_modified),
                    not_modified=True,
                )
            if response.status_code >= 400:
                raise FetchError(
                    url, f"HTTP {response.status_code}", status=response.status_code
                )
            body = _read_capped(response, url, limits.max_bytes)
    except requests.RequestException as e:
        raise FetchError(url, f"{type(e).__name__}: {e}") from e
    return FetchResult(
        url=response.url,
        status=response.status_code,
        headers=dict(response.headers),
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _read_capped(response: requests.Response, url: str, max_bytes: int) -> bytes:
    # iter_content decodes gzip/deflate as it streams, so the cap applies to decoded
    # bytes.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                url, f"body larger than {max_bytes} bytes", response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)
