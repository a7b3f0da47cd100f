"""Feed discovery: a homepage's <link rel="alternate"> feeds, the WordPress paths,
the feed remembered between runs and found again when it fails; on loopback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import LOOPBACK
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors import get_connector
from connectors.base import ConnectorError
from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import Source
from connectors.discover import feed_links
from connectors.http import fetch
from connectors.http import make_http
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.registry import load

DATA = Path(__file__).resolve().parent / "data" / "discover"
HOME = (DATA / "wordpress-home.html").read_text("utf-8")
FEED = (DATA / "wordpress-feed.xml").read_bytes()
SITE = "https://klaster.example.pl"


def source(url: str, **options: Any) -> Source:
    return Source(
        key="c/s",
        cluster="c",
        type="discover",
        url=url,
        interval=timedelta(hours=1),
        options=options,
    )


def home(**options: Any) -> tuple[Source, FetchResult]:
    page = FetchResult(f"{SITE}/", 200, {}, HOME.encode())
    return source(f"{SITE}/", **options), page


def test_alternate_links_richer_formats_first_and_no_comment_feed() -> None:
    assert feed_links(*home()) == [
        f"{SITE}/oferty/feed/atom/",  # relative href resolved
        f"{SITE}/feed/",
    ]


def test_prefer_puts_one_format_first() -> None:
    spec, page = home()
    assert feed_links(spec, page, "rss")[0] == f"{SITE}/feed/"


class Get:
    """A GetPage on the test server (no robots, no cap) that records its URLs."""

    def __init__(self) -> None:
        self.http, self.urls = make_http(), list[str]()

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        self.urls.append(url)
        return fetch(self.http, url, accept=accept, policy=LOOPBACK)


def crawl(
    httpserver: HTTPServer, state: dict[str, Any] | None = None, **options: Any
) -> tuple[ParsedDocument, list[str]]:
    get = Get()
    url = httpserver.url_for("/")
    first = fetch(get.http, url, accept="text/html", policy=LOOPBACK)
    document = get_connector("discover").crawl(  # type: ignore[attr-defined]
        source(url, **options), first, get, state or {}
    )
    return document, [u.replace(url, "/") for u in get.urls]


def serve_home(httpserver: HTTPServer, page: str = HOME) -> None:
    base = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/").respond_with_data(
        page.replace(SITE, base), content_type="text/html; charset=UTF-8"
    )


def test_the_linked_feed_is_read_and_remembered(httpserver: HTTPServer) -> None:
    serve_home(httpserver)
    httpserver.expect_request("/oferty/feed/atom/").respond_with_data(
        "Not found", status=404
    )
    httpserver.expect_request("/feed/").respond_with_data(
        FEED, content_type="application/rss+xml; charset=UTF-8"
    )
    document, fetched = crawl(httpserver)
    assert fetched == ["/oferty/feed/atom/", "/feed/"]  # the preferred Atom failed
    assert [i.title for i in document.items] == [
        "Oferta: frezowanie CNC – wolne moce",
        "Targi Metal 2026",
    ]
    assert document.items[0].categories == ("Oferty współpracy",)
    assert document.state == {"feed": httpserver.url_for("/feed/")}


def test_a_remembered_feed_is_read_without_looking_again(
    httpserver: HTTPServer,
) -> None:
    serve_home(httpserver, "<!DOCTYPE html><html><head></head><body></body></html>")
    httpserver.expect_request("/strumien.xml").respond_with_data(FEED)
    state = {"feed": httpserver.url_for("/strumien.xml")}
    document, fetched = crawl(httpserver, state)
    assert fetched == ["/strumien.xml"]
    assert len(document.items) == 2 and document.state == state
    assert document.warnings == ()


def test_a_remembered_feed_that_fails_is_discovered_again(
    httpserver: HTTPServer,
) -> None:
    serve_home(httpserver)
    httpserver.expect_request("/old-feed").respond_with_data("Gone", status=410)
    httpserver.expect_request("/oferty/feed/atom/").respond_with_data(
        FEED, content_type="application/atom+xml"
    )
    document, fetched = crawl(httpserver, {"feed": httpserver.url_for("/old-feed")})
    assert fetched == ["/old-feed", "/oferty/feed/atom/"]
    assert document.state == {"feed": httpserver.url_for("/oferty/feed/atom/")}
    [warning] = document.warnings
    assert warning.startswith(f"the feed {httpserver.url_for('/old-feed')} failed")
    assert warning.endswith("looked for it again")


def test_without_links_the_wordpress_paths_are_tried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/", query_string="feed=rss2").respond_with_data(FEED)
    serve_home(httpserver, "<!DOCTYPE html><html><head></head><body>Hi</body></html>")
    httpserver.expect_request("/feed/").respond_with_data("Not found", status=404)
    document, fetched = crawl(httpserver)
    assert fetched == ["/feed/", "/?feed=rss2"]
    assert document.state == {"feed": httpserver.url_for("/") + "?feed=rss2"}


def test_no_feed_anywhere_is_a_not_a_feed_error_naming_what_was_tried(
    httpserver: HTTPServer,
) -> None:
    page = "<!DOCTYPE html><html><head></head><body>Hi</body></html>"
    serve_home(httpserver, page)  # and at /?feed=rss2, as a site without WordPress
    httpserver.expect_request("/feed/").respond_with_data("Not found", status=404)
    httpserver.expect_request("/feed/atom/").respond_with_data(
        page, content_type="text/html"
    )
    with pytest.raises(ParseError) as e:
        crawl(httpserver)
    assert e.value.error_class == "not_a_feed"
    message = e.value.message
    assert message.startswith('no feed found: no <link rel="alternate">')
    for path in ("/feed/", "/?feed=rss2", "/feed/atom/"):
        assert httpserver.url_for("/").rstrip("/") + path in message
    assert "HTML page" in message


def test_a_linked_feed_that_fails_is_the_error(httpserver: HTTPServer) -> None:
    serve_home(httpserver)
    for path in ("/oferty/feed/atom/", "/feed/"):
        httpserver.expect_request(path).respond_with_data("oops", status=503)
    with pytest.raises(ConnectorError) as e:
        crawl(httpserver)
    assert e.value.error_class == "http_status"
    assert "the linked feed failed" in str(e.value)


def test_a_homepage_that_is_a_feed_is_read_as_one(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data(
        FEED, content_type="application/rss+xml"
    )
    document, fetched = crawl(httpserver)
    assert fetched == [] and len(document.items) == 2


def test_a_discovered_feed_is_harvested_into_the_index(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    serve_home(httpserver)
    httpserver.expect_request("/oferty/feed/atom/").respond_with_data(
        FEED, content_type="application/atom+xml"
    )
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"home": httpserver.url_for("/")},
        type_="discover",
        options="        prefer: atom\n        kind_by_category: {Wydarzenia: event}\n",
    )
    with sessions() as db:
        index.sync_registry(db, load(path), clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 2)
    with sessions() as db:
        kinds = {o.title: o.kind for o in db.scalars(sa.select(Offer))}
    assert kinds == {
        "Oferta: frezowanie CNC – wolne moce": "business-offer",
        "Targi Metal 2026": "event",
    }
