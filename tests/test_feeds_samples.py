"""Tests for feeds.samples: the two sample member sites and their loopback server.

Network use is limited to 127.0.0.1."""

from __future__ import annotations

import email.utils
import http.client
import os
import shutil
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
import requests
from lxml import etree
from lxml import html

from feeds.samples import METAL_FEED_PATH
from feeds.samples import ORIGIN_PLACEHOLDER
from feeds.samples import SITES_ROOT
from feeds.samples import WOOD_FEED_PATH
from feeds.samples import SampleSites

TODAY_END = datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
OCT_START = datetime(2026, 10, 1, tzinfo=UTC)
POLISH_LETTERS = set("ąćęłńóśźżŁ")
LITHUANIAN_LETTERS = set("ąčęėįšųūž")


@pytest.fixture(scope="module")
def sites():
    server = SampleSites().start()
    yield server
    server.stop()


def fetch_feed(
    sites: SampleSites, path: str
) -> tuple[requests.Response, feedparser.FeedParserDict]:
    resp = requests.get(sites.url(path), timeout=5)
    assert resp.status_code == 200
    parsed = feedparser.parse(
        resp.content,
        response_headers={
            "content-location": resp.url,
            "content-type": resp.headers["Content-Type"],
        },
    )
    return resp, parsed


def entry_language(entry: feedparser.FeedParserDict) -> str | None:
    """RSS items carry <dc:language>; Atom entries xml:lang (on text constructs)."""
    return entry.get("language") or entry.get("summary_detail", {}).get("language")


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


# --- feeds ----------------------------------------------------------------------------


def test_metal_feed_is_rss2_in_polish_and_english(sites):
    resp, feed = fetch_feed(sites, METAL_FEED_PATH)
    assert resp.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    etree.fromstring(resp.content)  # well-formed for lxml too
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.language == "pl-PL"
    assert len(feed.entries) == 10
    assert Counter(entry_language(e) for e in feed.entries) == {"pl": 8, "en": 2}
    polish_text = " ".join(
        e.title + e.summary + e.content[0].value
        for e in feed.entries
        if entry_language(e) == "pl"
    )
    assert POLISH_LETTERS <= set(polish_text)
    for word in (
        "Łomża",
        "spółka",
        "obróbk",
        "szlifowanie",
        "żuraw",
        "Białystok",
        "Ełk",
    ):
        assert word in polish_text, word
    titles = [e.title for e in feed.entries]
    assert "Usługi obróbki CNC – toczenie i frezowanie" in titles
    assert "Operator maszyn CNC – Białystok" in titles
    assert (
        "Sheet metal fabrication capacity available for Lithuanian partners" in titles
    )
    for e in feed.entries:
        assert e.id.startswith("https://metalklaster.pl/?p=")
        assert e.guidislink is False
        assert e.tags and e.author
        assert e.content[0].type == "text/html" and "<p>" in e.content[0].value


def test_wood_feed_is_atom_in_lithuanian_and_english(sites):
    resp, feed = fetch_feed(sites, WOOD_FEED_PATH)
    assert resp.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    etree.fromstring(resp.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == 10
    assert Counter(entry_language(e) for e in feed.entries) == {"lt": 8, "en": 2}
    lithuanian_text = " ".join(
        e.title + e.summary + e.content[0].value
        for e in feed.entries
        if entry_language(e) == "lt"
    )
    assert LITHUANIAN_LETTERS <= set(lithuanian_text)
    assert "žaliuzės" in lithuanian_text
    for e in feed.entries:
        assert e.id.startswith("tag:medienospartneriai.lt,2026:pasiulymas-")
        assert e.tags and e.author and e.published_parsed and e.updated_parsed
        assert e.content[0].type == "text/html" and "<ul>" in e.content[0].value


@pytest.mark.parametrize("path", [METAL_FEED_PATH, WOOD_FEED_PATH])
def test_ids_unique_and_dates_in_oct_nov_2026(sites, path):
    _, feed = fetch_feed(sites, path)
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids)
    for e in feed.entries:
        published = datetime(*e.published_parsed[:6], tzinfo=UTC)
        assert OCT_START <= published <= TODAY_END, e.id
        if "updated_parsed" in e:  # RSS items have none; avoid feedparser's fallback
            assert datetime(*e.updated_parsed[:6], tzinfo=UTC) <= TODAY_END


def test_feed_files_on_disk_parse_cleanly():
    for rel in ("metalklaster/feed/index.xml", "medienospartneriai/atom.xml"):
        data = (SITES_ROOT / rel).read_bytes()
        etree.fromstring(data)
        assert feedparser.parse(data).bozo == 0


# --- links ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [METAL_FEED_PATH, WOOD_FEED_PATH])
def test_every_entry_link_is_a_served_html_page(sites, path):
    resp, feed = fetch_feed(sites, path)
    assert ORIGIN_PLACEHOLDER.encode() not in resp.content
    expected_lang = "pl" if path == METAL_FEED_PATH else "lt"
    for e in feed.entries:
        assert e.link.startswith(sites.base_url + "/"), e.link
        page = requests.get(e.link, timeout=5)
        assert page.status_code == 200, e.link
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        doc = html.fromstring(page.content)
        assert doc.get("lang") == expected_lang
        assert doc.findtext(".//h1") == e.title


@pytest.mark.parametrize(
    ("home", "feed_type", "feed_path"),
    [
        ("/metalklaster/index.html", "application/rss+xml", METAL_FEED_PATH),
        ("/medienospartneriai/index.html", "application/atom+xml", WOOD_FEED_PATH),
    ],
)
def test_homepage_advertises_feed(sites, home, feed_type, feed_path):
    page = requests.get(sites.url(home), timeout=5)
    assert page.status_code == 200
    doc = html.fromstring(page.content)
    alternates = doc.xpath('//link[@rel="alternate"]')
    assert [(a.get("type"), a.get("href")) for a in alternates] == [
        (feed_type, feed_path)
    ]
    assert len(doc.xpath('//ul[@class="offers"]/li')) == 10


def test_directory_paths(sites):
    via_dir = requests.get(sites.url(METAL_FEED_PATH), timeout=5)
    via_file = requests.get(sites.url(METAL_FEED_PATH + "index.xml"), timeout=5)
    assert via_dir.content == via_file.content
    assert via_dir.headers["ETag"] == via_file.headers["ETag"]
    home = requests.get(sites.url("/medienospartneriai/"), timeout=5)
    assert home.status_code == 200 and home.headers["Content-Type"].startswith(
        "text/html"
    )
    redirect = requests.get(
        sites.url("/metalklaster/feed"), timeout=5, allow_redirects=False
    )
    assert (
        redirect.status_code == 301 and redirect.headers["Location"] == METAL_FEED_PATH
    )


# --- conditional GET ------------------------------------------------------------------


@pytest.mark.parametrize("path", [METAL_FEED_PATH, WOOD_FEED_PATH])
def test_conditional_get(sites, path):
    first = requests.get(sites.url(path), timeout=5)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    assert email.utils.parsedate_to_datetime(last_modified)

    by_etag = requests.get(sites.url(path), headers={"If-None-Match": etag}, timeout=5)
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_etag.headers["ETag"] == etag

    by_date = requests.get(
        sites.url(path), headers={"If-Modified-Since": last_modified}, timeout=5
    )
    assert by_date.status_code == 304 and by_date.content == b""

    stale_etag = requests.get(
        sites.url(path),
        headers={"If-None-Match": '"nope"', "If-Modified-Since": last_modified},
        timeout=5,
    )
    assert (
        stale_etag.status_code == 200 and stale_etag.content == first.content
    )  # ETag wins over date

    older = email.utils.formatdate(
        email.utils.parsedate_to_datetime(last_modified).timestamp() - 60, usegmt=True
    )
    assert (
        requests.get(
            sites.url(path), headers={"If-Modified-Since": older}, timeout=5
        ).status_code
        == 200
    )


def test_head_has_headers_but_no_body(sites):
    head = requests.head(sites.url(WOOD_FEED_PATH), timeout=5)
    get = requests.get(sites.url(WOOD_FEED_PATH), timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    assert head.headers["ETag"] == get.headers["ETag"]


def test_changed_file_gets_new_etag(tmp_path: Path):
    root = tmp_path / "sites"
    shutil.copytree(SITES_ROOT, root)
    feed_file = root / "medienospartneriai" / "atom.xml"
    with SampleSites(root=root) as server:
        url = server.url(WOOD_FEED_PATH)
        first = requests.get(url, timeout=5)
        etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert (
            requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code
            == 304
        )

        text = feed_file.read_text(encoding="utf-8")
        feed_file.write_text(
            text.replace("Medinės žaliuzės", "Medinės žaliuzės ir roletai", 1),
            encoding="utf-8",
        )
        later = time.time() + 60
        os.utime(feed_file, (later, later))

        second = requests.get(url, headers={"If-None-Match": etag}, timeout=5)
        assert second.status_code == 200
        assert second.headers["ETag"] != etag
        assert "roletai" in second.content.decode("utf-8")
        by_date = requests.get(
            url, headers={"If-Modified-Since": last_modified}, timeout=5
        )
        assert (
            by_date.status_code == 200
            and by_date.headers["Last-Modified"] != last_modified
        )
        assert (
            requests.get(
                url, headers={"If-None-Match": second.headers["ETag"]}, timeout=5
            ).status_code
            == 304
        )
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
def test_path_traversal_is_404(sites, path):
    status, body = raw_get(sites, path)
    assert status == 404
    assert b"SampleSites" not in body


def test_missing_file_is_404(sites):
    assert (
        requests.get(
            sites.url("/metalklaster/oferty/nie-ma/index.html"), timeout=5
        ).status_code
        == 404
    )


def test_requests_are_recorded(sites):
    requests.get(sites.url("/metalklaster/index.html"), timeout=5)
    requests.get(sites.url("/no-such-site/"), timeout=5)
    assert ("GET", "/metalklaster/index.html", 200) in sites.requests
    assert ("GET", "/no-such-site/", 404) in sites.requests


def test_base_url_requires_running_server():
    server = SampleSites()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert not server.base_url.endswith("/")
    server.stop()  # idempotent
