"""Output feeds: every offers search as Atom, RSS 2.0 and JSON Feed 1.1, through
Flask's test client. Atom and RSS are read back with feedparser, every format with
feeds.reader and feeds.validator; no harvested javascript: link is ever republished.
"""

from __future__ import annotations

import json
from datetime import timedelta

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import NOW
from index_data import WOOD
from index_data import add_offers
from index_data import offer_data
from lxml import html

from feeds.reader import read
from feeds.validator import validate
from hub.web import outfeeds

FORMATS = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}
XML_FORMATS = ("atom", "rss")
BASE = "http://localhost"


@pytest.fixture
def offers(app: Flask) -> dict[str, int]:
    """Welding in Lithuania (two, a job among them), welding in Poland, and joinery."""
    ids = add_offers(
        app,
        WOOD,
        offer_data(
            "lt-weld",
            "Suvirinimo paslaugos – welding services",
            language="lt",
            days_ago=3,
            organisation={"name": "UAB Plienas", "country": "LT", "town": "Alytus"},
            categories=("Metalas",),
        ),
        offer_data(
            "lt-welder",
            "Welding job in Lazdijai",
            kind="job-offer",
            language="en",
            days_ago=1,
            valid_through=NOW + timedelta(days=30),
        ),
        offer_data("lt-joinery", "Joinery for export", language="en", days_ago=2),
    )
    ids |= add_offers(
        app,
        METAL,
        offer_data("pl-weld", "Spawanie MIG/MAG – welding", days_ago=4),
    )
    return ids


def get_feed(client: FlaskClient, url: str, fmt: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == FORMATS[fmt]
    return response.get_data()


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_search_reads_back_in_feedparser_as_the_search(
    offers: dict[str, int], client: FlaskClient, fmt: str
) -> None:
    data = get_feed(client, f"/en/offers/feed.{fmt}?q=welding&country=LT", fmt)
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == "Offers: welding, Lithuania"
    assert parsed.feed.link == f"{BASE}/en/offers/?q=welding&country=LT"
    assert [e.title for e in parsed.entries] == [  # newest first
        "Welding job in Lazdijai",
        "Suvirinimo paslaugos – welding services",
    ]
    assert [e.link for e in parsed.entries] == [
        f"{BASE}/en/offers/{offers['lt-welder']}",
        f"{BASE}/en/offers/{offers['lt-weld']}",
    ]


def test_the_json_feed_reads_back_as_the_search(
    offers: dict[str, int], client: FlaskClient
) -> None:
    data = get_feed(client, "/en/offers/feed.json?q=welding&country=LT", "json")
    doc = json.loads(data)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "Offers: welding, Lithuania"
    assert doc["home_page_url"] == f"{BASE}/en/offers/?q=welding&country=LT"
    assert doc["feed_url"] == f"{BASE}/en/offers/feed.json?q=welding&country=LT"
    feed = read(data)
    assert [o.title for o in feed.offers] == [
        "Welding job in Lazdijai",
        "Suvirinimo paslaugos – welding services",
    ]
    welder, weld = feed.offers
    assert welder.kind == "job-offer" and welder.valid_through is not None
    assert weld.organisation is not None and weld.organisation.name == "UAB Plienas"
    assert weld.language == "lt" and weld.location is not None
    assert weld.location.country == "LT"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_a_valid_profile_feed(
    offers: dict[str, int], client: FlaskClient, fmt: str
) -> None:
    report = validate(get_feed(client, f"/pl/offers/feed.{fmt}", fmt))
    assert report.ok, report.errors
    assert report.format == fmt and report.offers == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_decide_the_items_and_the_title(
    offers: dict[str, int], client: FlaskClient, fmt: str
) -> None:
    def titles(url: str) -> list[str]:
        return [o.title for o in read(get_feed(client, url, fmt)).offers]

    assert titles(f"/en/offers/feed.{fmt}?kind=job-offer") == [
        "Welding job in Lazdijai"
    ]
    assert titles(f"/en/offers/feed.{fmt}?cluster=metalklaster") == [
        "Spawanie MIG/MAG – welding"
    ]
    assert titles(f"/en/offers/feed.{fmt}?language=en&q=export") == [
        "Joinery for export"
    ]
    assert titles(f"/en/offers/feed.{fmt}?q=submarine") == []
    title = read(get_feed(client, f"/en/offers/feed.{fmt}?kind=job-offer", fmt))
    assert title.info.title == "Offers: Job offer"


def test_a_feed_lists_the_newest_offers_up_to_its_size(
    offers: dict[str, int], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outfeeds, "FEED_SIZE", 2)
    feed = read(
        get_feed(client, "/en/offers/feed.json?sort=relevance&q=welding", "json")
    )
    assert [o.title for o in feed.offers] == [
        "Welding job in Lazdijai",
        "Suvirinimo paslaugos – welding services",
    ]


def test_feed_titles_speak_the_visitors_language(
    offers: dict[str, int], client: FlaskClient
) -> None:
    pl = read(get_feed(client, "/pl/offers/feed.atom?country=LT", "atom")).info
    lt = read(get_feed(client, "/lt/offers/feed.atom?country=LT", "atom")).info
    assert "Litwa" in pl.title and pl.language == "pl"
    assert "Lietuva" in lt.title and lt.language == "lt"
    link = feedparser.parse(get_feed(client, "/lt/offers/feed.rss", "rss")).entries
    assert all(e.link.startswith(f"{BASE}/lt/offers/") for e in link)


@pytest.mark.parametrize("fmt", FORMATS)
def test_harvested_javascript_and_data_links_are_never_republished(
    app: Flask, client: FlaskClient, fmt: str
) -> None:
    add_offers(
        app,
        METAL,
        offer_data(
            "evil",
            "Cheap steel",
            url="javascript:alert(1)",
            body_html=(
                '<p><a href="javascript:alert(2)">x</a>'
                '<img src="data:text/html;base64,PHNjcmlwdD4="></p>'
            ),
            organisation={"name": "Evil Ltd", "website": "javascript:alert(3)"},
        ),
        offer_data("good", "Good steel", url="https://member.example/good"),
    )
    data = get_feed(client, f"/en/offers/feed.{fmt}", fmt)
    assert b"javascript:" not in data.lower()
    assert b"data:text" not in data
    assert b"Cheap steel" in data and b"Evil Ltd" in data
    assert b"https://member.example/good" in data  # the member-site link, kept
    assert validate(data).ok


def test_an_empty_search_is_a_valid_empty_feed(app: Flask, client: FlaskClient) -> None:
    for fmt in FORMATS:
        data = get_feed(client, f"/en/offers/feed.{fmt}?q=nothing", fmt)
        report = validate(data)
        assert report.ok and report.offers == 0, report.errors


def test_feeds_carry_cache_validators(
    offers: dict[str, int], client: FlaskClient
) -> None:
    first = client.get("/en/offers/feed.atom?q=welding")
    assert "max-age=" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = client.get(
        "/en/offers/feed.atom?q=welding", headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    other = client.get(
        "/en/offers/feed.atom?q=joinery", headers={"If-None-Match": etag}
    )
    assert other.status_code == 200


def test_an_unknown_format_is_not_found(client: FlaskClient) -> None:
    assert client.get("/en/offers/feed.xml").status_code == 404


def test_the_search_page_links_its_feeds(
    offers: dict[str, int], client: FlaskClient
) -> None:
    response = client.get("/en/offers/?q=welding&country=LT&page=1&sort=date")
    doc = html.fromstring(response.get_data(as_text=True))
    links = {
        link.get("type"): link.get("href")
        for link in doc.cssselect('head link[rel="alternate"][type]')
    }
    assert links == {
        mimetype: f"/en/offers/feed.{fmt}?q=welding&country=LT"
        for fmt, mimetype in FORMATS.items()
    }
    titles = {link.get("title") for link in doc.cssselect("head link[type]")}
    assert "Offers: welding, Lithuania (Atom)" in titles
    visible = {a.get("href") for a in doc.cssselect("p.feeds a")}
    assert visible == set(links.values())
    for href in visible:  # each answers with the same search
        assert client.get(href).status_code == 200


def test_feeds_of_a_harvested_index_validate(
    harvested_app: Flask, client: FlaskClient
) -> None:
    for fmt in FORMATS:
        report = validate(get_feed(client, f"/lt/offers/feed.{fmt}", fmt))
        assert report.ok, report.errors
        assert 0 < report.offers <= outfeeds.FEED_SIZE
