"""Site pages through Flask's test client.

A few HTML facts per page, never whole pages.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from feeds.profile import Offer as FeedOffer
from feeds.samples import sample_offers
from hub import versions
from hub.models import Cluster
from hub.models import Offer

NOW = datetime.now(UTC)


def page(client: FlaskClient, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.fromstring(response.get_data(as_text=True))


def titles(doc: html.HtmlElement) -> list[str]:
    return [a.text_content() for a in doc.cssselect("li.offer a.title")]


def live_offers(
    app: Flask, column: sa.ColumnElement[str], language: str = "en"
) -> dict[str, int]:
    """How many live offers the index holds, by ``column``: one version of each, the
    one shown in ``language`` (what the pages in that language show)."""
    with app.extensions["ecoop.sessions"]() as db:
        return dict(
            db.execute(
                sa.select(column, sa.func.count())
                .select_from(Offer)
                .join(Cluster)
                .where(Offer.status == "active", versions.shown_in(language))
                .group_by(column)
            ).all()
        )


def sample(slug: str, key: str, language: str) -> FeedOffer:
    """A sample member site's offer (feeds/samples/data), by its key and language."""
    wanted = f"/{key}/{language}"
    return next(o for o in sample_offers(NOW)[slug] if o.id.endswith(wanted))


def offer_id(app: Flask, title: str) -> int:
    with app.extensions["ecoop.sessions"]() as db:
        found = db.scalar(sa.select(Offer.id).where(Offer.title == title))
    assert found is not None
    return found


def test_root_redirects_to_the_visitors_language(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept-Language": "lt-LT,lt;q=0.9,en;q=0.5"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/lt/")
    response = client.get("/", headers={"Accept-Language": "de"})
    assert response.headers["Location"].endswith("/en/")


def test_unknown_language_is_not_found(client: FlaskClient) -> None:
    assert client.get("/de/").status_code == 404


def test_home_shows_clusters_with_counts_and_latest_offers(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/pl/")
    cards = {
        c.cssselect("h3")[0].text_content(): c.cssselect(".count")[0].text_content()
        for c in doc.cssselect("li.cluster")
    }
    live = live_offers(harvested_app, Cluster.slug)
    assert {name: count.split()[0] for name, count in cards.items()} == {
        "Klaster Obróbki Metali": str(live["metalklaster"]),
        "Klaster Drzewny „Medienos partneriai”": str(live["medienospartneriai"]),
    }
    assert "Ostatnie pobranie" in doc.cssselect("li.cluster")[0].text_content()
    assert len(titles(doc)) == 8


def test_home_before_any_harvest_says_so(client: FlaskClient) -> None:
    doc = page(client, "/en/")
    assert "No offers have been harvested yet." in doc.text_content()


def test_pages_are_translated(harvested_app: Flask, client: FlaskClient) -> None:
    expected = {
        "pl": ("Najnowsze oferty", "Metal Processing"),
        "lt": ("Naujausi pasiūlymai", "Metal Processing"),
        "en": ("Latest offers", "Metal Processing Cluster"),
    }
    for lang, (heading, _) in expected.items():
        doc = page(client, f"/{lang}/")
        assert doc.get("lang") == lang
        assert heading in [h.text_content() for h in doc.cssselect("h2")]
    assert "Metal Processing Cluster" in page(client, "/en/").text_content()
    assert "Metalo apdirbimo klasteris" in page(client, "/lt/").text_content()


def test_search_is_diacritic_blind(harvested_app: Flask, client: FlaskClient) -> None:
    cnc = sample("metalklaster", "obrobka-cnc-toczenie-frezowanie", "pl")
    assert cnc.title == "Usługi obróbki CNC – toczenie i frezowanie"
    assert cnc.title in titles(page(client, "/pl/offers/?q=uslugi+obrobki"))
    blinds = sample(
        "medienospartneriai", "medines-zaliuzes-gamyba-pagal-uzsakyma", "lt"
    )
    assert blinds.title in titles(page(client, "/lt/offers/?q=ZALIUZES"))
    welder = sample("metalklaster", "spawacz-mig-mag-elk", "pl")
    assert welder.title in titles(page(client, "/pl/offers/?q=elk+spawacz"))


def test_search_finds_nothing_and_offers_a_way_back(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/en/offers/?q=submarine&cluster=metalklaster")
    assert titles(doc) == []
    assert "No offers match your search." in doc.text_content()
    assert doc.cssselect("p.empty a")[0].get("href") == "/en/offers/"


def test_a_page_past_the_last_links_back_to_the_last(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/lt/offers/?q=zaliuzes&page=40")
    last = doc.cssselect("p.empty a")[0].get("href")
    assert titles(doc) == [] and "No offers match" not in doc.text_content()
    assert "Rezultatai baigiasi prieš šį puslapį." in doc.text_content()
    assert titles(page(client, last)) and "page=" in last and "q=zaliuzes" in last


def test_cluster_filter_is_shown_and_removable(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/lt/offers/?cluster=medienospartneriai")
    wood = live_offers(harvested_app, Cluster.slug)["medienospartneriai"]
    assert len(titles(doc)) == min(wood, 20)
    count = doc.cssselect("p.result-count")[0].text_content().split()
    assert count[0].startswith("Rast") and count[1] == str(wood)  # Rasta/Rasti
    [chip] = doc.cssselect("ul.active-filters a")
    assert chip.text_content().split("×")[0].strip() == (
        "Pašalinti šį filtrą: Klasteris: Medienos partneriai"
    )
    assert chip.get("href") == "/lt/offers/"
    assert len(titles(page(client, "/lt/offers/?cluster=nope"))) == 0


def test_facets_count_what_each_filter_would_show(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/en/offers/")
    facets = {
        f.cssselect("h2")[0].text_content(): {
            li.text_content().rsplit(None, 1)[0].strip(): int(
                li.cssselect(".count")[0].text_content()
            )
            for li in f.cssselect("li")
        }
        for f in doc.cssselect("section.facet")
    }
    by_cluster = live_offers(harvested_app, Cluster.slug)
    assert facets["Cluster"] == {
        "Metal Processing Cluster": by_cluster["metalklaster"],
        "Wood Partners Cluster": by_cluster["medienospartneriai"],
    }
    by_country = live_offers(harvested_app, Offer.country)
    assert facets["Country"] == {
        "Poland": by_country["PL"],
        "Lithuania": by_country["LT"],
    }
    assert sum(facets["Kind"].values()) == sum(by_cluster.values())
    jobs = facets["Kind"]["Job offer"]
    filtered = page(client, "/en/offers/?kind=job-offer")
    found = filtered.cssselect("p.result-count")[0].text_content()
    assert found == f"{jobs} offers found" and jobs > 0
    assert len(titles(filtered)) == min(jobs, 20)
    # the kind facet still counts every kind under the other filters
    kinds = [
        li.text_content()
        for li in filtered.cssselect("section.facet")[0].cssselect("li")
    ]
    assert len(kinds) == len(facets["Kind"])


def test_sort_by_date_lists_newest_first(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/en/offers/?q=cnc&sort=date")
    dates = [t.get("datetime") for t in doc.cssselect("li.offer time")]
    assert dates == sorted(dates, reverse=True) and len(dates) >= 2


def test_offers_are_paginated(harvested_app: Flask, client: FlaskClient) -> None:
    url, seen = "/en/offers/", []
    while True:
        doc = page(client, url)
        seen += titles(doc)
        following = doc.cssselect("a[rel=next]")
        if not following:
            break
        assert len(titles(doc)) == 20
        url = following[0].get("href")
    assert len(seen) == sum(live_offers(harvested_app, Cluster.slug).values())
    assert len(set(seen)) > 20


def test_offer_page_links_back_to_the_member_site(
    harvested_app: Flask, client: FlaskClient
) -> None:
    welder = sample("metalklaster", "spawacz-mig-mag-elk", "pl")
    offer = offer_id(harvested_app, welder.title)
    doc = page(client, f"/pl/offers/{offer}")
    assert doc.cssselect("h1")[0].text_content() == welder.title
    assert doc.cssselect("h1")[0].get("lang") == "pl"
    link = doc.cssselect("a.button")[0]
    assert re.match(r"http://127\.0\.0\.1:\d+/metalklaster/oferty/.+", link.get("href"))
    assert "Oferta pracy" in doc.text_content()
    assert page(client, "/pl/offers/999999", status=404) is not None


def test_language_switch_keeps_page_and_query(
    harvested_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/pl/offers/?q=cnc&cluster=metalklaster")
    switch = {a.get("hreflang"): a.get("href") for a in doc.cssselect("nav.langs a")}
    assert switch == {
        "lt": "/lt/offers/?q=cnc&cluster=metalklaster",
        "en": "/en/offers/?q=cnc&cluster=metalklaster",
    }
    alternates = {
        link.get("hreflang") for link in doc.cssselect("link[rel=alternate][hreflang]")
    }  # (the page's feeds are alternates too, without hreflang)
    assert alternates == {"pl", "lt", "en"}


def test_harvested_script_never_reaches_the_page(
    harvested_app: Flask, client: FlaskClient
) -> None:
    with harvested_app.extensions["ecoop.sessions"]() as db:
        offers = list(db.scalars(sa.select(Offer)))
    for offer in offers:
        body = client.get(f"/en/offers/{offer.id}").get_data(as_text=True)
        assert "<script>" not in body.split("</head>", 1)[1]
        assert "javascript:" not in body
