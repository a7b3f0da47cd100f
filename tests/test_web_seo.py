"""robots.txt, sitemaps (with hreflang alternates, split into an index when large)
and the OpenSearch description, through Flask's test client."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import NOW
from index_data import WOOD
from index_data import add_offers
from index_data import offer_data
from lxml import etree
from lxml import html

from hub.web import seo

NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "xhtml": "http://www.w3.org/1999/xhtml",
    "os": "http://a9.com/-/spec/opensearch/1.1/",
}
BASE = "http://localhost"
LANGS = ("pl", "lt", "en")


@pytest.fixture
def offers(app: Flask) -> dict[str, int]:
    ids = add_offers(
        app,
        METAL,
        *(offer_data(f"pl-{n}", f"Oferta {n}", days_ago=n) for n in range(1, 5)),
        offer_data("pl-old", "Wygasła", days_ago=30, valid_through=NOW),
    )
    ids |= add_offers(
        app, WOOD, *(offer_data(f"lt-{n}", f"Pasiūlymas {n}") for n in range(3))
    )
    return ids


def xml(client: FlaskClient, url: str) -> etree._Element:
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "application/xml"
    assert "max-age" in response.headers["Cache-Control"]
    return etree.fromstring(response.get_data())


def url_entries(root: etree._Element) -> dict[str, dict[str, str]]:
    """loc -> {hreflang: href} of a urlset."""
    return {
        url.findtext("sm:loc", namespaces=NS): {
            link.get("hreflang"): link.get("href")
            for link in url.findall("xhtml:link[@rel='alternate']", NS)
        }
        for url in root.findall("sm:url", NS)
    }


def offer_urls(ids: list[int]) -> set[str]:
    return {f"{BASE}/{lang}/offers/{i}" for i in ids for lang in LANGS}


def test_robots_txt_allows_the_site_and_names_the_sitemap(client: FlaskClient) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert "User-agent: *" in lines and "Allow: /" in lines
    assert "Disallow: /api/" in lines
    assert "Disallow: /*?" in lines  # filtered, sorted and paged search results
    assert f"Sitemap: {BASE}/sitemap.xml" in lines


def test_the_sitemap_lists_live_offers_in_every_language_with_alternates(
    offers: dict[str, int], client: FlaskClient
) -> None:
    entries = url_entries(xml(client, "/sitemap.xml"))
    live = [i for guid, i in offers.items() if guid != "pl-old"]
    offer_locs = {loc for loc in entries if "/offers/" in loc and loc[-1] != "/"}
    assert offer_locs == offer_urls(live)  # the expired offer is left out
    some = offers["lt-0"]
    for lang in LANGS:  # every version lists all versions, itself included
        assert entries[f"{BASE}/{lang}/offers/{some}"] == {
            lang: f"{BASE}/{lang}/offers/{some}" for lang in LANGS
        }
    assert {f"{BASE}/{lang}/" for lang in LANGS} <= set(entries)
    assert {f"{BASE}/{lang}/offers/" for lang in LANGS} <= set(entries)
    for loc in entries:  # every listed page exists
        assert client.get(urlsplit(loc).path).status_code == 200, loc


def test_offers_in_the_sitemap_carry_their_last_change(
    offers: dict[str, int], client: FlaskClient
) -> None:
    root = xml(client, "/sitemap.xml")
    loc = f"{BASE}/en/offers/{offers['pl-2']}"
    [url] = root.xpath("sm:url[sm:loc=$loc]", namespaces=NS, loc=loc)
    published = NOW - timedelta(days=2)  # when the offer says it was published
    assert url.findtext("sm:lastmod", namespaces=NS) == published.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_a_large_sitemap_becomes_an_index_of_files(
    offers: dict[str, int], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seo, "URLS_PER_FILE", 9)  # three pages or offers a file
    root = xml(client, "/sitemap.xml")
    assert etree.QName(root).localname == "sitemapindex"
    files = [loc.text for loc in root.findall("sm:sitemap/sm:loc", NS)]
    pages = [e for e in seo.SITE_PAGES if e in client.application.view_functions]
    assert len(files) == -(-(7 + len(pages)) // 3)
    seen: list[str] = []
    for loc in files:
        entries = url_entries(xml(client, urlsplit(loc).path))
        assert 0 < len(entries) <= 9
        seen += entries
    assert len(seen) == len(set(seen)) == 3 * (7 + len(pages))
    live = [i for guid, i in offers.items() if guid != "pl-old"]
    assert offer_urls(live) <= set(seen)
    assert client.get(f"/sitemap-{len(files) + 1}.xml").status_code == 404
    assert client.get("/sitemap-0.xml").status_code == 404


def test_a_small_sitemap_has_no_numbered_files(client: FlaskClient) -> None:
    assert client.get("/sitemap-1.xml").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_opensearch_describes_the_search_in_each_language(
    offers: dict[str, int], client: FlaskClient, lang: str
) -> None:
    response = client.get(f"/{lang}/opensearch.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/opensearchdescription+xml"
    root = etree.fromstring(response.get_data())
    assert len(root.findtext("os:ShortName", namespaces=NS)) <= 16
    assert root.findtext("os:Language", namespaces=NS) == lang
    assert root.findtext("os:Description", namespaces=NS)
    templates = {u.get("type"): u.get("template") for u in root.findall("os:Url", NS)}
    html_search = templates["text/html"]
    assert html_search == f"{BASE}/{lang}/offers/?q={{searchTerms}}"
    assert templates["application/opensearchdescription+xml"] == (
        f"{BASE}/{lang}/opensearch.xml"
    )
    for template in (html_search, templates["application/atom+xml"]):
        url = urlsplit(template.replace("{searchTerms}", "pasiulymas"))
        found = client.get(f"{url.path}?{url.query}").get_data(as_text=True)
        assert "Pasiūlymas 1" in found  # the search runs, diacritic-blind


def test_every_page_links_the_opensearch_description(client: FlaskClient) -> None:
    for lang in LANGS:
        doc = html.fromstring(client.get(f"/{lang}/").get_data(as_text=True))
        [link] = doc.cssselect('head link[rel="search"]')
        assert link.get("type") == "application/opensearchdescription+xml"
        assert link.get("href") == f"/{lang}/opensearch.xml" and link.get("title")
