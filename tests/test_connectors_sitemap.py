"""Sitemaps: parsing (indexes, lastmod, gzip, no entity expansion), the walk through
child sitemaps, the page loop that re-reads only changed pages; and jsonld sources
driven by a sitemap through the harvester (kept pages, withdrawal, robots.txt)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import LOOPBACK
from helpers import Clock
from helpers import run_capped
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import PageCapReached
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.http import make_http
from connectors.sitemap import Page
from connectors.sitemap import is_sitemap
from connectors.sitemap import parse_sitemap
from connectors.sitemap import read_pages
from connectors.sitemap import walk
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.models import Organisation
from hub.registry import load

DATA = Path(__file__).resolve().parent / "data" / "sitemap"
SITE = "https://klasteris.example.lt"
H = timedelta(hours=1)


def result(url: str, body: bytes) -> FetchResult:
    return FetchResult(url=url, status=200, headers={}, body=body)


class FakeSite:
    """A GetPage over a dict of URL -> body; records what was fetched; raises
    FetchError for unknown URLs and PageCapReached after ``cap`` pages."""

    def __init__(self, pages: dict[str, bytes], cap: int = 100) -> None:
        self.pages, self.cap, self.fetched = pages, cap, list[str]()

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        if len(self.fetched) >= self.cap:
            raise PageCapReached(url, f"page cap of {self.cap} pages reached")
        self.fetched.append(url)
        if url not in self.pages:
            raise FetchError(url, "HTTP 404", "http_status", status=404)
        return result(url, self.pages[url])


def fixture_site() -> FakeSite:
    return FakeSite(
        {
            f"{SITE}/{name}": (DATA / name).read_bytes()
            for name in ("post-sitemap.xml", "job_listing-sitemap.xml")
        }
    )


def index_result() -> FetchResult:
    return result(
        f"{SITE}/sitemap_index.xml", (DATA / "sitemap_index.xml").read_bytes()
    )


# --- parsing -----------------------------------------------------------------------


def test_a_sitemap_index_lists_its_children_with_lastmod() -> None:
    sitemap = parse_sitemap(index_result().body, f"{SITE}/sitemap_index.xml")
    assert sitemap.urls == ()
    assert sitemap.children == (
        (f"{SITE}/post-sitemap.xml", "2026-11-02T09:14:11+00:00"),
        (f"{SITE}/job_listing-sitemap.xml", "2026-11-20T07:12:40+00:00"),
    )


def test_a_urlset_gives_pages_with_lastmod_trimmed_and_resolved() -> None:
    jobs = parse_sitemap(
        (DATA / "job_listing-sitemap.xml").read_bytes(), f"{SITE}/x.xml"
    )
    assert jobs.urls == (
        (f"{SITE}/darbo-skelbimai/", "2026-11-20T07:12:40+00:00"),
        (f"{SITE}/darbo-skelbimai/cnc-operatorius/", "2026-11-19T10:01:02+00:00"),
        (f"{SITE}/darbo-skelbimai/suvirintojas-alytus/", "2026-11-20T07:12:40+00:00"),
        (f"{SITE}/darbo-skelbimai/lakuotojas/", None),  # no loc, mailto: left out
    )
    posts = parse_sitemap((DATA / "post-sitemap.xml").read_bytes(), f"{SITE}/p.xml")
    assert posts.urls[1] == (f"{SITE}/apie-mus/", None)  # relative loc resolved


def test_a_gzipped_sitemap_file_is_read() -> None:
    body = gzip.compress((DATA / "post-sitemap.xml").read_bytes())
    assert is_sitemap(body)
    assert len(parse_sitemap(body, f"{SITE}/sitemap.xml.gz").urls) == 2


def test_entities_are_not_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://x.lt/&b;</loc></url></urlset>"
    )
    [(loc, _)] = parse_sitemap(body, "https://x.lt/sitemap.xml").urls
    assert "aaaa" not in loc


@pytest.mark.parametrize(
    ("body", "error_class"),
    [
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "not_a_feed"),
        (b"<rss version='2.0'><channel/></rss>", "not_a_feed"),
        (b"\x1f\x8bnot gzip at all", "parse"),
    ],
)
def test_what_is_not_a_sitemap_is_refused(body: bytes, error_class: str) -> None:
    assert not is_sitemap(body)
    with pytest.raises(ParseError) as e:
        parse_sitemap(body, f"{SITE}/sitemap.xml")
    assert e.value.error_class == error_class


# --- walking an index ---------------------------------------------------------------


def test_walk_reads_every_child_and_filters_pages() -> None:
    site = fixture_site()
    found = walk(site, index_result(), {}, include=r"/darbo-skelbimai/.")
    assert [p.url for p in found.pages] == [
        f"{SITE}/darbo-skelbimai/cnc-operatorius/",
        f"{SITE}/darbo-skelbimai/suvirintojas-alytus/",
        f"{SITE}/darbo-skelbimai/lakuotojas/",
    ]
    assert found.complete and found.warnings == ()
    assert len(site.fetched) == 2


def test_walk_skips_children_whose_lastmod_did_not_change() -> None:
    first = walk(fixture_site(), index_result(), {})
    site = fixture_site()
    again = walk(
        site, index_result(), {"sitemaps": json.loads(json.dumps(first.state))}
    )
    assert site.fetched == []
    assert again.pages == first.pages


def test_a_failed_child_makes_the_walk_incomplete_and_keeps_its_known_pages() -> None:
    first = walk(fixture_site(), index_result(), {})
    state = {"sitemaps": {k: dict(v) for k, v in first.state.items()}}
    for child in state["sitemaps"].values():
        child["lastmod"] = "older"
    site = fixture_site()
    del site.pages[f"{SITE}/job_listing-sitemap.xml"]
    found = walk(site, index_result(), state)
    assert not found.complete
    assert "job_listing-sitemap.xml: HTTP 404" in found.warnings[0]
    assert f"{SITE}/darbo-skelbimai/lakuotojas/" in [p.url for p in found.pages]


def test_pages_on_other_sites_are_left_out() -> None:
    body = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://www.klasteris.example.lt/a</loc></url>"
        b"<url><loc>https://evil.example.com/b</loc></url></urlset>"
    )
    found = walk(FakeSite({}), result(f"{SITE}/sitemap.xml", body), {})
    assert [p.url for p in found.pages] == ["https://www.klasteris.example.lt/a"]
    assert found.warnings == ("1 sitemap URLs on other sites left out",)


# --- reading pages ------------------------------------------------------------------


def titles(result: FetchResult) -> list[RawItem]:
    """Test reader: one item per line, ``guid title`` (guid ``-`` for none)."""
    items = []
    for line in result.body.decode().splitlines():
        guid, title = line.split(" ", 1)
        items.append(
            RawItem(guid=None if guid == "-" else guid, link=None, title=title)
        )
    return items


def test_only_pages_whose_lastmod_changed_are_fetched_again() -> None:
    site = FakeSite({"https://x.lt/a": b"1 A", "https://x.lt/b": b"2 B\n- C"})
    pages = [Page("https://x.lt/a", "2026-11-01"), Page("https://x.lt/b", "2026-11-01")]
    first = read_pages(site, pages, {}, titles, accept="text/html")
    assert [i.guid for i in first.items] == ["1", "2", "https://x.lt/b#2"]
    assert first.complete and first.read == 2

    site.fetched.clear()
    pages[1] = Page("https://x.lt/b", "2026-11-05")
    again = read_pages(
        site, pages, {"pages": json.loads(json.dumps(first.state))}, titles,
        accept="text/html",
    )  # fmt: skip
    assert site.fetched == ["https://x.lt/b"]
    assert again.kept == ("1",)
    assert [i.guid for i in again.items] == ["2", "https://x.lt/b#2"]
    assert again.state["https://x.lt/a"] == {"lastmod": "2026-11-01", "ids": ["1"]}


def test_pages_without_lastmod_are_always_fetched() -> None:
    site = FakeSite({"https://x.lt/a": b"1 A"})
    first = read_pages(site, [Page("https://x.lt/a")], {}, titles, accept="text/html")
    read_pages(site, [Page("https://x.lt/a")], {"pages": first.state}, titles,
               accept="text/html")  # fmt: skip
    assert site.fetched == ["https://x.lt/a", "https://x.lt/a"]


def test_a_failed_page_loses_its_items_only_and_the_set_is_incomplete() -> None:
    site = FakeSite({"https://x.lt/a": b"1 A", "https://x.lt/c": b"3 C"})
    pages = [Page(f"https://x.lt/{p}", "d") for p in "abc"]
    done = read_pages(site, pages, {}, titles, accept="text/html")
    assert [i.guid for i in done.items] == ["1", "3"]
    assert not done.complete
    assert done.warnings == ("1 pages failed: https://x.lt/b: HTTP 404",)
    assert "https://x.lt/b" not in done.state  # fetched again next time


def test_the_page_cap_stops_the_loop_and_tells_what_is_left() -> None:
    site = FakeSite({f"https://x.lt/{p}": f"{p} {p}".encode() for p in "abcd"}, cap=2)
    pages = [Page(f"https://x.lt/{p}", "d") for p in "abcd"]
    done = read_pages(site, pages, {}, titles, accept="text/html")
    assert [i.guid for i in done.items] == ["a", "b"]
    assert not done.complete
    assert done.warnings == (
        "page cap of 2 pages reached; 2 pages left for the next run",
    )


def test_an_id_used_on_two_pages_gets_a_page_key_on_the_second() -> None:
    site = FakeSite({"https://x.lt/a": b"7 A", "https://x.lt/b": b"7 B"})
    pages = [Page("https://x.lt/a"), Page("https://x.lt/b")]
    done = read_pages(site, pages, {}, titles, accept="text/html")
    assert [i.guid for i in done.items] == ["7", "https://x.lt/b#1"]


# --- through the harvester ----------------------------------------------------------


def job_page(guid: str, title: str) -> str:
    posting = {
        "@context": "https://schema.org",
        "@type": "JobPosting",
        "identifier": guid,
        "title": title,
        "datePosted": "2026-11-20",
        "hiringOrganization": {"@type": "Organization", "name": "UAB Metalas"},
    }
    return (
        "<!DOCTYPE html><html lang='lt'><head><script type='application/ld+json'>"
        f"{json.dumps(posting)}</script></head><body><h1>{title}</h1></body></html>"
    )


def sitemap(*pages: tuple[str, str]) -> str:
    urls = "".join(
        f"<url><loc>/jobs/{p}</loc><lastmod>{m}</lastmod></url>" for p, m in pages
    )
    return (
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )


@pytest.fixture
def serve(httpserver: HTTPServer) -> Callable[..., None]:
    def serve(listing: str, pages: dict[str, str], robots: str = "") -> None:
        httpserver.clear()
        httpserver.expect_request("/robots.txt").respond_with_data(
            f"User-agent: *\n{robots}\n"
        )
        httpserver.expect_request("/sitemap.xml").respond_with_data(
            listing, content_type="application/xml"
        )
        for name, title in pages.items():
            httpserver.expect_request(f"/jobs/{name}").respond_with_data(
                job_page(name, title), content_type="text/html; charset=utf-8"
            )

    return serve


@pytest.fixture
def register(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"jobs": httpserver.url_for("/sitemap.xml")},
        type_="jsonld",
    )
    with sessions() as db:
        index.sync_registry(db, load(path), clock())


def fetched(httpserver: HTTPServer) -> list[str]:
    return sorted(r.path for r, _ in httpserver.log if r.path.startswith("/jobs/"))


def offers(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str, int]]:
    with sessions() as db:
        return {
            o.guid: (o.title, o.status, o.missing_runs)
            for o in db.scalars(sa.select(Offer))
        }


@pytest.mark.usefixtures("register")
def test_pages_with_an_unchanged_lastmod_are_not_fetched_and_stay_active(
    httpserver: HTTPServer,
    serve: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    jobs = {"a": "Suvirintojas", "b": "Tekintojas", "c": "Dažytojas"}
    serve(sitemap(("a", "1"), ("b", "1"), ("c", "1")), jobs)
    [first] = harvester.run(due_only=False)
    assert (first.status, first.new) == ("ok", 3)
    assert fetched(httpserver) == ["/jobs/a", "/jobs/b", "/jobs/c"]

    clock.now += H
    serve(sitemap(("a", "1"), ("b", "2"), ("c", "1")), {**jobs, "b": "Tekintojas CNC"})
    [second] = harvester.run(due_only=False)
    assert fetched(httpserver) == ["/jobs/b"]
    assert (second.updated, second.unchanged, second.withdrawn) == (1, 2, 0)
    assert offers(sessions) == {
        "a": ("Suvirintojas", "active", 0),
        "b": ("Tekintojas CNC", "active", 0),
        "c": ("Dažytojas", "active", 0),
    }


@pytest.mark.usefixtures("register")
def test_a_page_gone_from_the_sitemap_is_withdrawn_after_three_misses_over_a_day(
    serve: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(sitemap(("a", "1"), ("b", "1")), {"a": "Suvirintojas", "b": "Tekintojas"})
    harvester.run(due_only=False)
    serve(sitemap(("a", "1")), {"a": "Suvirintojas"})
    for step in (H, H, H):  # three absences within hours: still active
        clock.now += step
        harvester.run(due_only=False)
    assert offers(sessions)["b"][1] == "active"
    clock.now += timedelta(hours=23)
    [run] = harvester.run(due_only=False)
    assert run.withdrawn == 1
    assert {g: s for g, (_, s, _) in offers(sessions).items()} == {
        "a": "active",
        "b": "withdrawn",
    }


@pytest.mark.usefixtures("register")
def test_robots_txt_keeps_a_page_unread_and_nothing_is_withdrawn(
    httpserver: HTTPServer,
    serve: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    jobs = {"a": "Suvirintojas", "b": "Tekintojas"}
    serve(sitemap(("a", "1"), ("b", "1")), jobs)
    harvester.run(due_only=False)
    serve(sitemap(("a", "1"), ("b", "2")), jobs, robots="Disallow: /jobs/b")
    later = Harvester(  # a new process: robots.txt is read afresh
        sessions,
        make_http(),
        clock=clock,
        owner="t",
        jitter=lambda: 0.0,
        policy=LOOPBACK,
    )
    for _ in range(4):
        clock.now += timedelta(hours=12)
        [run] = later.run(due_only=False, force=True)
        assert "/jobs/b" not in fetched(httpserver)
        assert run.status == "ok" and run.warning and "/jobs/b" in run.warning
    assert {g: s for g, (_, s, _) in offers(sessions).items()} == {
        "a": "active",
        "b": "active",  # unread is not gone: an incomplete run withdraws nothing
    }


def company_page(name: str) -> str:
    business = {
        "@context": "https://schema.org",
        "@type": "LocalBusiness",
        "@id": f"#{name}",
        "name": name,
        "knowsAbout": ["Suvirinimas"],
        "address": {"addressLocality": "Alytus", "addressCountry": "LT"},
    }
    return (
        "<!DOCTYPE html><html lang='lt'><head><script type='application/ld+json'>"
        f"{json.dumps(business)}</script></head><body></body></html>"
    )


@pytest.mark.usefixtures("register")
def test_company_profiles_on_unchanged_pages_are_not_withdrawn(
    httpserver: HTTPServer,
    serve: Callable[..., None],
    harvester: Harvester,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> None:
    serve(sitemap(("a", "1")), {})
    httpserver.expect_request("/jobs/a").respond_with_data(
        company_page("UAB Plienas"), content_type="text/html"
    )
    [first] = harvester.run(due_only=False)
    assert first.new == 1
    clock.now += H
    serve(sitemap(("a", "1"), ("b", "1")), {"b": "Suvirintojas"})
    [second] = harvester.run(due_only=False)
    assert fetched(httpserver) == ["/jobs/b"]
    with sessions() as db:
        [org] = db.scalars(
            sa.select(Organisation).where(Organisation.name == "UAB Plienas")
        )
        assert org.profile_withdrawn_at is None


def test_a_sitemap_too_big_for_the_parse_cap_is_too_large_not_broken(
    tmp_path: Path,
) -> None:
    """libxml2 out of memory under a parsing process's cap said "not a sitemap:
    unknown error", blaming the member site for the hub's limit."""
    printed = run_capped(
        """
        from connectors.sitemap import parse_sitemap

        document = (
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>'
            b"https://m.example/" + b"x" * 9_000_000 + b"</loc></url></urlset>"
        )
        attempt(parse_sitemap, document, "https://m.example/sitemap.xml")
        """,
        tmp_path,
    )
    assert printed == "MemoryError: the XML parser ran out of memory"
