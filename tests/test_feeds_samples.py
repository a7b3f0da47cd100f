"""Tests for feeds.samples: the sample member sites' data, the feeds and pages built
from it with feeds.writer, and the loopback server (generated and static files).

Network use is limited to 127.0.0.1."""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from lxml import html

from connectors import get_connector
from connectors.base import FetchResult
from connectors.base import RawItem
from connectors.base import Source
from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import Offer
from feeds.profile import OfferKind
from feeds.reader import read
from feeds.samples import METAL_COMPANIES_JSON_PATH
from feeds.samples import METAL_COMPANIES_PATH
from feeds.samples import METAL_FEED_PATH
from feeds.samples import METAL_JSON_FEED_PATH
from feeds.samples import ORIGIN_PLACEHOLDER
from feeds.samples import WOOD_COMPANIES_JSON_PATH
from feeds.samples import WOOD_COMPANIES_PATH
from feeds.samples import WOOD_FEED_PATH
from feeds.samples import WOOD_JSON_FEED_PATH
from feeds.samples import SampleSites
from feeds.samples import is_live
from feeds.samples import load_sites
from feeds.samples import sample_firms
from feeds.samples import sample_offers
from feeds.samples import server as samples_server
from feeds.samples.build import build_site
from feeds.validator import validate

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLISH_LETTERS = set("ąćęłńóśźż")
LITHUANIAN_LETTERS = set("ąčęėįšųūž")
PL_TOWNS = {"Białystok", "Suwałki", "Augustów", "Ełk", "Sejny", "Łomża", "Olecko"}
PL_TOWNS |= {"Gołdap"}
LT_TOWNS = {"Alytus", "Marijampolė", "Druskininkai", "Lazdijai", "Vilnius", "Kaunas"}
OFFER_FEEDS = {
    "metalklaster": (METAL_FEED_PATH, METAL_JSON_FEED_PATH),
    "medienospartneriai": (WOOD_FEED_PATH, WOOD_JSON_FEED_PATH),
}
COMPANY_FEEDS = {
    "metalklaster": (METAL_COMPANIES_PATH, METAL_COMPANIES_JSON_PATH),
    "medienospartneriai": (WOOD_COMPANIES_PATH, WOOD_COMPANIES_JSON_PATH),
}
ALL_FEEDS = [
    p for paths in (*OFFER_FEEDS.values(), *COMPANY_FEEDS.values()) for p in paths
]


@pytest.fixture(scope="module")
def sites():
    with SampleSites(now=NOW) as server:
        yield server


def get(sites: SampleSites, path: str, **headers: str) -> requests.Response:
    return requests.get(sites.url(path), headers=headers, timeout=10)


def raw_get(sites: SampleSites, path: str) -> tuple[int, bytes]:
    """GET with the path sent verbatim (urllib3 would normalise dot segments)."""
    parts = urlsplit(sites.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def groups(offers: list[Offer]) -> dict[str, list[Offer]]:
    """Language versions by offer (an offer in one language is a group of one)."""
    out: dict[str, list[Offer]] = {}
    for offer in offers:
        out.setdefault(offer.group or offer.id, []).append(offer)
    return out


def text_of(offers: list[Offer], language: str) -> str:
    return " ".join(
        f"{o.title} {o.summary} {o.content_html}"
        for o in offers
        if o.language == language
    )


# --- the data -------------------------------------------------------------------------


def test_the_data_has_sixty_offers_of_every_kind_across_the_region() -> None:
    offers = sample_offers(NOW)
    assert set(offers) == {"metalklaster", "medienospartneriai"}
    everything = [o for site in offers.values() for o in site]
    assert sum(len(groups(site)) for site in offers.values()) >= 60
    for slug, site in offers.items():
        assert {o.kind for o in site} == set(OfferKind), slug
    towns = {o.location.town for o in everything if o.location}
    assert PL_TOWNS | LT_TOWNS <= towns
    assert {o.location.country for o in everything if o.location} == {"PL", "LT"}
    assert POLISH_LETTERS <= set(text_of(offers["metalklaster"], "pl"))
    assert LITHUANIAN_LETTERS <= set(text_of(offers["medienospartneriai"], "lt"))


def test_some_metal_offers_have_english_and_lithuanian_versions_grouped() -> None:
    metal = groups(sample_offers(NOW, "http://site.example")["metalklaster"])
    translated = [g for g in metal.values() if len(g) > 1]
    languages = Counter(o.language for g in translated for o in g)
    assert languages["en"] >= 5 and languages["lt"] >= 5
    full = [g for g in translated if {o.language for o in g} == {"pl", "en", "lt"}]
    assert full, "an offer in all three languages"
    for versions in translated:
        links = {o.language: o.link for o in versions}
        for offer in versions:
            assert offer.group is not None and offer.group == versions[0].group
            others = {k: v for k, v in links.items() if k != offer.language}
            assert offer.alternates == others


def test_jobs_carry_esco_occupations_and_firms_carry_nace_sectors() -> None:
    offers = [o for site in sample_offers(NOW).values() for o in site]
    for offer in offers:
        schemes = {c.scheme for c in offer.categories}
        if offer.kind in (OfferKind.JOB_OFFER, OfferKind.JOB_SEEKING):
            assert SCHEME_ESCO_OCCUPATION in schemes, offer.id
            assert offer.valid_through is not None, offer.id
        if offer.kind == OfferKind.JOB_SEEKING:
            assert offer.organisation is None
        elif offer.kind in (OfferKind.BUSINESS_OFFER, OfferKind.BUSINESS_REQUEST):
            assert SCHEME_NACE in schemes and offer.organisation, offer.id
    firms = [f for site in sample_firms(NOW).values() for f in site]
    assert len(firms) >= 15
    for firm in firms:
        assert firm.is_company_profile
        assert firm.organisation and firm.organisation.capabilities
        assert any(c.scheme == SCHEME_NACE for c in firm.categories)


def test_dates_follow_the_clock_so_the_demo_never_goes_stale() -> None:
    def live(now: datetime) -> list[str]:
        offers = sample_offers(now)
        return sorted(o.id for site in offers.values() for o in site if is_live(o, now))

    later = NOW + timedelta(days=365)
    assert live(later) == live(NOW)
    assert 0 < len(live(NOW)) < sum(len(s) for s in sample_offers(NOW).values())
    for site in sample_offers(NOW).values():
        for offer in site:
            assert offer.published is not None and offer.published < NOW
            assert offer.valid_through is None or offer.valid_through > offer.published


def test_a_site_is_the_same_all_day_and_changes_with_the_day() -> None:
    metal = load_sites()[0]
    morning = build_site(metal, "http://x", NOW.replace(hour=7))
    evening = build_site(metal, "http://x", NOW.replace(hour=20))
    tomorrow = build_site(metal, "http://x", NOW + timedelta(days=1))
    assert morning == evening
    assert morning[METAL_FEED_PATH].body != tomorrow[METAL_FEED_PATH].body


def test_feed_paths_are_those_of_the_data() -> None:
    paths = {site.slug: site for site in load_sites()}
    for slug, (atom, json_feed) in OFFER_FEEDS.items():
        assert (paths[slug].feed_path("atom"), paths[slug].feed_path("json")) == (
            atom,
            json_feed,
        )
    for slug, (atom, json_feed) in COMPANY_FEEDS.items():
        site = paths[slug]
        assert (site.feed_path("firms_atom"), site.feed_path("firms_json")) == (
            atom,
            json_feed,
        )


# --- the feeds ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_every_sample_feed_validates_clean(sites: SampleSites, path: str) -> None:
    response = get(sites, path)
    assert response.status_code == 200
    expected = "application/feed+json" if "json" in path else "application/atom+xml"
    assert response.headers["Content-Type"] == f"{expected}; charset=utf-8"
    report = validate(response.content)
    assert report.ok and not report.problems, report.problems
    parsed = read(response.content)
    assert parsed.info.complete and parsed.format == (
        "json" if "json" in path else "atom"
    )


@pytest.mark.parametrize("slug", ["metalklaster", "medienospartneriai"])
def test_the_json_feed_says_what_the_atom_feed_says(
    sites: SampleSites, slug: str
) -> None:
    atom, json_feed = OFFER_FEEDS[slug]
    from_atom = read(get(sites, atom).content)
    from_json = read(get(sites, json_feed).content)
    assert from_atom.offers == from_json.offers
    assert from_atom.deleted == from_json.deleted != []


def raw_items(sites: SampleSites, path: str) -> list[RawItem]:
    """The served feed as the hub's connector for its registry type reads it."""
    response = get(sites, path)
    source_type = "jsonfeed" if "json" in path else "rss"  # the demo's `type: rss`
    source = Source("x/y", "x", source_type, sites.url(path), timedelta(hours=1))
    result = FetchResult(response.url, 200, response.headers, response.content)
    document = get_connector(source_type).parse(source, result)
    assert document.complete is True and document.skipped == 0
    return document.items


def expected_item(offer: Offer) -> RawItem:
    """What the hub must read of ``offer``: every field, categories by scheme."""
    schemes = {c.scheme for c in offer.categories} - {None}
    assert schemes <= {SCHEME_NACE, SCHEME_ESCO_OCCUPATION}
    return RawItem(
        guid=offer.id,
        link=offer.link,
        title=offer.title,
        summary=offer.summary,
        content=offer.content_html,
        published=offer.published,
        updated=offer.updated,
        valid_through=offer.valid_through,
        author=offer.organisation.name if offer.organisation else None,
        categories=tuple(c.term for c in offer.categories if c.scheme is None),
        language=offer.language,
        kind=offer.kind.value if offer.kind else None,
        organisation=offer.organisation,
        location=offer.location,
        sectors=tuple(c.term for c in offer.categories if c.scheme == SCHEME_NACE),
        occupations=tuple(
            c.term for c in offer.categories if c.scheme == SCHEME_ESCO_OCCUPATION
        ),
        contact=offer.contact,
        group=offer.group,
    )


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_the_hubs_connector_reads_back_every_sample_offer(
    sites: SampleSites, path: str
) -> None:
    slug = path.split("/")[1]
    companies = path in COMPANY_FEEDS[slug]
    written = (sample_firms if companies else sample_offers)(NOW, sites.base_url)[slug]
    read_back = raw_items(sites, path)
    assert len(read_back) == len(written)
    for item, offer in zip(read_back, written, strict=True):
        expected = expected_item(offer)
        for name in RawItem.__dataclass_fields__:
            assert getattr(item, name) == getattr(expected, name), (offer.id, name)


# --- the pages ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["metalklaster", "medienospartneriai"])
def test_homepage_lists_the_offers_and_advertises_every_feed(
    sites: SampleSites, slug: str
) -> None:
    page = get(sites, f"/{slug}/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert get(sites, f"/{slug}/index.html").content == page.content
    doc = html.fromstring(page.content)
    feeds = {
        a.get("href"): a.get("type") for a in doc.xpath('//link[@rel="alternate"]')
    }
    assert set(feeds) == {*OFFER_FEEDS[slug], *COMPANY_FEEDS[slug]}
    for href, kind in feeds.items():
        assert get(sites, href).headers["Content-Type"].startswith(kind)
    listed = {a.text_content() for a in doc.cssselect("ul.offers a")}
    offers = groups(sample_offers(NOW)[slug])
    assert len(listed) == len(offers)
    firms = {a.text_content() for a in doc.cssselect("ul.firms a")}
    assert firms == {f.title for f in sample_firms(NOW)[slug]}
    assert get(sites, f"/{slug}/style.css").status_code == 200  # a static file


@pytest.mark.parametrize("slug", ["metalklaster", "medienospartneriai"])
def test_every_offer_and_version_is_a_page_of_its_own(
    sites: SampleSites, slug: str
) -> None:
    for offer in sample_offers(NOW, sites.base_url)[slug]:
        page = requests.get(offer.link, timeout=5)
        assert page.status_code == 200, offer.link
        doc = html.fromstring(page.content)
        assert doc.get("lang") == offer.language
        assert doc.findtext(".//h1") == offer.title
        versions = {
            a.get("hreflang"): a.get("href") for a in doc.cssselect("a[hreflang]")
        }
        assert versions == offer.alternates
    for firm in sample_firms(NOW, sites.base_url)[slug]:
        doc = html.fromstring(requests.get(firm.link, timeout=5).content)
        assert firm.organisation is not None
        capabilities = [li.text_content() for li in doc.cssselect("ul.capabilities li")]
        assert capabilities == list(firm.organisation.capabilities)


def test_a_directory_path_without_its_slash_redirects(sites: SampleSites) -> None:
    redirect = requests.get(
        sites.url("/metalklaster/feed"), timeout=5, allow_redirects=False
    )
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == METAL_FEED_PATH


# --- conditional GET ------------------------------------------------------------------


@pytest.mark.parametrize("path", [METAL_FEED_PATH, WOOD_JSON_FEED_PATH, "/index.html"])
def test_conditional_get(sites: SampleSites, path: str) -> None:
    first = get(sites, path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert email.utils.parsedate_to_datetime(last_modified)

    by_etag = get(sites, path, **{"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_etag.headers["ETag"] == etag
    by_date = get(sites, path, **{"If-Modified-Since": last_modified})
    assert by_date.status_code == 304 and by_date.content == b""
    stale = get(
        sites, path, **{"If-None-Match": '"nope"', "If-Modified-Since": last_modified}
    )
    assert stale.status_code == 200 and stale.content == first.content  # ETag wins
    older = email.utils.formatdate(
        email.utils.parsedate_to_datetime(last_modified).timestamp() - 60, usegmt=True
    )
    assert get(sites, path, **{"If-Modified-Since": older}).status_code == 200


def test_head_has_headers_but_no_body(sites: SampleSites) -> None:
    head = requests.head(sites.url(WOOD_FEED_PATH), timeout=5)
    full = get(sites, WOOD_FEED_PATH)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(full.content))
    assert head.headers["ETag"] == full.headers["ETag"]


def test_the_next_day_the_feed_changes_and_says_so() -> None:
    clock = [NOW]
    with SampleSites(now=lambda: clock[0]) as server:
        first = get(server, METAL_FEED_PATH)
        etag = first.headers["ETag"]
        assert (
            get(server, METAL_FEED_PATH, **{"If-None-Match": etag}).status_code == 304
        )
        clock[0] = NOW + timedelta(hours=3)  # the same day: the same feed
        assert (
            get(server, METAL_FEED_PATH, **{"If-None-Match": etag}).status_code == 304
        )
        clock[0] = NOW + timedelta(days=1)
        second = get(server, METAL_FEED_PATH, **{"If-None-Match": etag})
        assert second.status_code == 200 and second.headers["ETag"] != etag
        assert second.headers["Last-Modified"] != first.headers["Last-Modified"]


def test_a_new_days_pages_are_built_inside_the_guard_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ecoop demo`` serves these sites from the process that forks the hub's
    parsing workers: their pages are built (with lxml) inside the guard it gives,
    which keeps forks out meanwhile."""
    depth, seen = [0], []

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    build = samples_server.build_site

    def recording(*args: Any) -> Any:
        seen.append(depth[0])
        return build(*args)

    monkeypatch.setattr(samples_server, "build_site", recording)
    clock = [NOW]
    with SampleSites(now=lambda: clock[0], guard=guard) as server:
        get(server, METAL_FEED_PATH)
        clock[0] = NOW + timedelta(days=1)
        get(server, METAL_FEED_PATH)
    assert len(seen) >= 2 and set(seen) == {1}
    assert depth == [0]


# --- static files ---------------------------------------------------------------------


def test_static_files_are_served_as_they_are_with_the_origin_filled_in(
    tmp_path: Path,
) -> None:
    site = tmp_path / "legacy"
    site.mkdir()
    page = f'<a href="{ORIGIN_PLACEHOLDER}/legacy/">Įmonė</a>'.encode("windows-1257")
    (site / "index.html").write_bytes(page)
    (site / "logo.bin").write_bytes(ORIGIN_PLACEHOLDER.encode() + b"\x00\xff")
    with SampleSites(root=tmp_path, now=NOW) as server:
        served = get(server, "/legacy/")
        assert served.content == page.replace(
            ORIGIN_PLACEHOLDER.encode(), server.base_url.encode()
        )
        binary = get(server, "/legacy/logo.bin")
        assert binary.content == ORIGIN_PLACEHOLDER.encode() + b"\x00\xff"
        assert get(server, METAL_FEED_PATH).status_code == 200  # generated still


def test_a_changed_static_file_gets_a_new_etag(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text("<rss>ąčę</rss>", encoding="utf-8")
    with SampleSites(root=tmp_path) as server:
        first = get(server, "/feed.xml")
        etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert get(server, "/feed.xml", **{"If-None-Match": etag}).status_code == 304
        (tmp_path / "feed.xml").write_text("<rss>žūų</rss>", encoding="utf-8")
        later = time.time() + 60
        os.utime(tmp_path / "feed.xml", (later, later))
        second = get(server, "/feed.xml", **{"If-None-Match": etag})
        assert second.status_code == 200 and second.headers["ETag"] != etag
        assert "žūų" in second.content.decode("utf-8")
        by_date = get(server, "/feed.xml", **{"If-Modified-Since": last_modified})
        assert by_date.status_code == 200
    assert not server.running


# --- refusals and bookkeeping ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/../server.py",
        "/metalklaster/../../server.py",
        "/%2e%2e/server.py",
        "/metalklaster/%2E%2E/%2e%2e/__init__.py",
        "/metalklaster/..%2f..%2fserver.py",
        "/%252e%252e/server.py",
        "/metalklaster/..\\..\\server.py",
    ],
)
def test_path_traversal_is_404(sites: SampleSites, path: str) -> None:
    status, body = raw_get(sites, path)
    assert status == 404
    assert b"SampleSites" not in body


def test_missing_page_is_404(sites: SampleSites) -> None:
    assert get(sites, "/metalklaster/oferty/nie-ma/").status_code == 404


def test_requests_are_recorded(sites: SampleSites) -> None:
    get(sites, "/metalklaster/index.html")
    get(sites, "/no-such-site/")
    assert ("GET", "/metalklaster/index.html", 200) in sites.requests
    assert ("GET", "/no-such-site/", 404) in sites.requests


def test_base_url_requires_running_server() -> None:
    server = SampleSites()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert not server.base_url.endswith("/")
    server.stop()  # idempotent
