"""The job exchange and the search facets it brings (occupation, town, posted within),
through Flask's test client, on SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from web_seed import esco
from web_seed import item
from web_seed import seed
from web_seed import sync

from hub.search import JOB_FACETS
from hub.search import JOB_KINDS
from hub.search import OFFER_FACETS
from hub.search import OfferQuery
from hub.search import facet_counts
from hub.search import search_offers

# two occupations of the hub's label file (any two: the tests read their labels)
OCC_A, OCC_B = sorted(esco())[:2]


@pytest.fixture
def jobs_app(app: Flask) -> Flask:
    """Two clusters' sources with job offers, a job-seeking ad and a business offer."""
    first, second = sync(app)[:2]
    seed(
        app,
        first,
        [
            item(
                "w1",
                "Spawacz MIG/MAG",
                kind="job-offer",
                days_ago=0.5,
                town="Ełk",
                country="PL",
                occupations=(OCC_A,),
                org="Stal-Ełk",
            ),
            item(
                "w2",
                "Spawacz TIG",
                kind="job-offer",
                days_ago=3,
                town="Suwałki",
                country="PL",
                occupations=(OCC_A,),
                sectors=("25.62",),
            ),
            item(
                "c1",
                "Operator OCC_B",
                kind="job-offer",
                days_ago=20,
                town="Ełk",
                country="PL",
                occupations=(OCC_B,),
            ),
            item(
                "b1",
                "Obróbka OCC_B",
                kind="business-offer",
                days_ago=0.8,
                town="Ełk",
                country="PL",
                org="Stal-Ełk",
                sectors=("25.62",),
            ),
        ],
    )
    seed(
        app,
        second,
        [
            item("s1", "Suvirintojas ieško darbo", kind="job-seeking", days_ago=2,
                 language="lt", town="Lykas", country="PL", occupations=(OCC_A,)),
            item("o1", "Old welder job", kind="job-offer", days_ago=90,
                 language="en", town="Vilnius", country="LT", occupations=(OCC_A,)),
        ],
    )  # fmt: skip
    return app


def page(client: FlaskClient, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.fromstring(response.get_data(as_text=True))


def titles(doc: html.HtmlElement) -> set[str]:
    return {a.text_content() for a in doc.cssselect("li.offer a.title")}


def facet(doc: html.HtmlElement, name: str) -> dict[str, int]:
    """A facet's values as the visitor reads them, with their counts."""
    return {
        li.text_content().rsplit(None, 1)[0].strip(): int(
            li.cssselect(".count")[0].text_content().replace("\xa0", "")
        )
        for li in doc.cssselect(f"section.facet-{name} li")
    }


def facet_link(doc: html.HtmlElement, name: str, label: str) -> str:
    [link] = [
        a.get("href")
        for a in doc.cssselect(f"section.facet-{name} a")
        if a.text_content() == label
    ]
    return str(link)


def test_job_exchange_lists_job_offers_and_seekers_only(
    jobs_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/en/jobs/")
    assert titles(doc) == {
        "Spawacz MIG/MAG", "Spawacz TIG", "Operator OCC_B",
        "Suvirintojas ieško darbo", "Old welder job",
    }  # fmt: skip
    assert facet(doc, "kind") == {"Job offer": 4, "Job seeking": 1}
    assert [h.text_content() for h in doc.cssselect("section.facet h2")] == [
        "Occupation", "Kind", "Country", "Town", "Posted within",
    ]  # fmt: skip
    # the search form stays on the job exchange
    assert doc.cssselect("form.search")[0].get("action") == "/en/jobs/"


def test_occupation_facet_reads_as_an_occupation_in_each_language(
    jobs_app: Flask, client: FlaskClient
) -> None:
    labels = esco()
    for lang in ("pl", "lt", "en"):
        counts = facet(page(client, f"/{lang}/jobs/"), "occupation")
        assert counts == {labels[OCC_A][lang]: 4, labels[OCC_B][lang]: 1}


def test_occupation_filter_applies_and_is_removable(
    jobs_app: Flask, client: FlaskClient
) -> None:
    label = esco()[OCC_A]["pl"]
    href = facet_link(page(client, "/pl/jobs/"), "occupation", label)
    doc = page(client, href)
    assert titles(doc) == {
        "Spawacz MIG/MAG", "Spawacz TIG", "Suvirintojas ieško darbo", "Old welder job",
    }  # fmt: skip
    [chip] = doc.cssselect("ul.active-filters a")
    assert label in chip.text_content()
    assert chip.get("href") == "/pl/jobs/"
    # the occupation's own facet still counts the other occupation
    assert facet(doc, "occupation") == {label: 4, esco()[OCC_B]["pl"]: 1}


def test_town_facet_is_one_place_in_every_language(
    jobs_app: Flask, client: FlaskClient
) -> None:
    # "Ełk" and its Lithuanian name "Lykas" are one town
    assert facet(page(client, "/pl/jobs/"), "town")["Ełk"] == 3
    doc = page(client, "/lt/jobs/")
    assert facet(doc, "town")["Lykas"] == 3
    filtered = page(client, facet_link(doc, "town", "Lykas"))
    assert titles(filtered) == {
        "Spawacz MIG/MAG", "Operator OCC_B", "Suvirintojas ieško darbo",
    }  # fmt: skip
    assert "Lykas" in filtered.cssselect("ul.active-filters a")[0].text_content()
    assert titles(page(client, "/lt/jobs/?town=E%C5%82k")) == titles(filtered)


def test_posted_within_counts_each_period_and_filters(
    jobs_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/en/jobs/")
    assert facet(doc, "posted") == {
        "Last 24 hours": 1,
        "Last 7 days": 3,
        "Last 30 days": 4,
    }
    week = page(client, facet_link(doc, "posted", "Last 7 days"))
    assert titles(week) == {
        "Spawacz MIG/MAG",
        "Spawacz TIG",
        "Suvirintojas ieško darbo",
    }
    # a period the page does not offer is no filter
    assert len(titles(page(client, "/en/jobs/?posted=3"))) == 5


def test_a_search_with_no_job_says_so(jobs_app: Flask, client: FlaskClient) -> None:
    doc = page(client, f"/en/jobs/?q=submarine&occupation={OCC_B}")
    assert titles(doc) == set()
    empty = doc.cssselect("p.empty")[0]
    assert "No offers match your search." in empty.text_content()
    assert "Try removing a filter." in empty.text_content()
    assert empty.cssselect("a")[0].get("href") == "/en/jobs/"
    # a business offer is not a job, whatever the URL asks
    assert titles(page(client, "/en/jobs/?kind=business-offer")) == set()
    assert page(client, "/xx/jobs/", status=404) is not None


def test_offers_search_has_the_new_facets(jobs_app: Flask, client: FlaskClient) -> None:
    doc = page(client, "/en/offers/")
    headings = [h.text_content() for h in doc.cssselect("section.facet h2")]
    assert headings[0] == "Kind"
    assert {"Town", "Sector", "Organisation", "Posted within"} <= set(headings)
    assert facet(doc, "organisation") == {"Stal-Ełk": 2}
    assert facet(doc, "posted")["Last 24 hours"] == 2
    sector = page(client, facet_link(doc, "sector", "25.62 Machining"))
    assert titles(sector) == {"Spawacz TIG", "Obróbka OCC_B"}
    org = page(client, facet_link(doc, "organisation", "Stal-Ełk"))
    assert titles(org) == {"Spawacz MIG/MAG", "Obróbka OCC_B"}
    assert "Stal-Ełk" in org.cssselect("ul.active-filters a")[0].text_content()


def test_facets_are_counted_in_sql_alike_on_both_engines(jobs_app: Flask) -> None:
    """Constants: passing on SQLite and PostgreSQL means both count the same."""
    with jobs_app.extensions["ecoop.sessions"]() as db:
        query = OfferQuery(kinds=JOB_KINDS, facets=JOB_FACETS, occupation=OCC_A)
        page = search_offers(db, query)
        assert page.total == 4
        assert page.facets == {
            "occupation": [(OCC_A, 4), (OCC_B, 1)],
            "kind": [("job-offer", 3), ("job-seeking", 1)],
            "country": [("PL", 3), ("LT", 1)],
            "town": [("elk", 2), ("suwalki", 1), ("vilnius", 1)],
            "posted": [("1", 1), ("7", 3), ("30", 3)],
        }
        everything = facet_counts(db, OfferQuery(facets=OFFER_FACETS))
        assert everything["sector"] == [("25.62", 2)]
        assert everything["posted"] == [("1", 2), ("7", 4), ("30", 5)]
        with pytest.raises(ValueError, match="unknown facets"):
            facet_counts(db, OfferQuery(facets=("colour",)))


def test_language_switch_and_alternates_keep_the_job_search(
    jobs_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/pl/jobs/?q=spawacz&posted=7")
    switch = {a.get("hreflang"): a.get("href") for a in doc.cssselect("nav.langs a")}
    assert switch == {
        "lt": "/lt/jobs/?q=spawacz&posted=7",
        "en": "/en/jobs/?q=spawacz&posted=7",
    }
    alternates = {
        link.get("hreflang"): link.get("href")
        for link in doc.cssselect("link[rel=alternate][hreflang]")
    }
    assert alternates["lt"] == "/lt/jobs/?q=spawacz&posted=7"
    current = doc.cssselect("header.site nav a[aria-current=page]")
    assert [a.get("href") for a in current] == ["/pl/jobs/"]
