"""RSS/Atom connector.

Golden files (input beside expected raw items) and a loopback fetch.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from connectors import get_connector
from connectors import source_types
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.http import fetch
from connectors.http import make_http

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = sorted([*DATA.glob("rss/*.xml"), *DATA.glob("atom/*.atom")])


def source(url: str = "https://example.org/feed", type_: str = "rss") -> Source:
    return Source(
        key="c/s", cluster="c", type=type_, url=url, interval=timedelta(hours=1)
    )


def as_json(item: RawItem) -> dict[str, object]:
    out = dataclasses.asdict(item)
    for key in ("published", "updated"):
        out[key] = out[key].isoformat() if out[key] else None
    out["categories"] = list(item.categories)
    return out


def test_rss_and_atom_are_both_registered() -> None:
    assert {"rss", "atom"} <= set(source_types())
    assert get_connector("rss") is get_connector("atom")


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parse_matches_golden_file(path: Path) -> None:
    result = FetchResult(
        url="https://example.org/feed", status=200, headers={}, body=path.read_bytes()
    )
    items = get_connector("rss").parse(source(), result)
    expected = json.loads(
        path.with_name(path.name + ".json").read_text(encoding="utf-8")
    )
    assert [as_json(item) for item in items] == expected


@pytest.mark.parametrize("body", [b"", b"<html><body>Login</body></html>", b'{"a": 1}'])
def test_parse_refuses_a_document_that_is_not_a_feed(body: bytes) -> None:
    result = FetchResult(
        url="https://example.org/feed", status=200, headers={}, body=body
    )
    with pytest.raises(ParseError):
        get_connector("rss").parse(source(), result)


def test_fetch_sends_validators_back_and_sees_304(httpserver: HTTPServer) -> None:
    body = (DATA / "rss" / "basic.xml").read_bytes()
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": '"v1"'}
    ).respond_with_data("", status=304, headers={"ETag": '"v1"'})
    httpserver.expect_request("/feed").respond_with_data(
        body,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 03 Nov 2026 09:30:00 GMT"},
    )
    http = make_http()
    first = fetch(http, httpserver.url_for("/feed"))
    assert (first.status, first.etag, first.body) == (200, '"v1"', body)
    assert first.last_modified == "Tue, 03 Nov 2026 09:30:00 GMT"
    second = fetch(
        http,
        httpserver.url_for("/feed"),
        etag=first.etag,
        last_modified=first.last_modified,
    )
    assert second.not_modified and second.body == b""


def test_fetch_reports_http_errors_with_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=410)
    with pytest.raises(FetchError) as info:
        fetch(make_http(), httpserver.url_for("/gone"))
    assert info.value.status == 410 and "HTTP 410" in str(info.value)


def test_fetch_caps_the_body(httpserver: HTTPServer) -> None:
    from connectors.http import HttpLimits

    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        fetch(
            make_http(), httpserver.url_for("/big"), limits=HttpLimits(max_bytes=1000)
        )


def test_fetch_times_out_on_a_silent_server(httpserver: HTTPServer) -> None:
    import time

    from connectors.http import HttpLimits

    def slow(_request):  # type: ignore[no-untyped-def]
        time.sleep(1.0)
        return "late"

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(FetchError, match="Timeout"):
        fetch(
            make_http(),
            httpserver.url_for("/slow"),
            limits=HttpLimits(connect_timeout=1, read_timeout=0.2),
        )
