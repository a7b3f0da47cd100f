"""The companies directory and a company's page, through Flask's test client."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from web_seed import item
from web_seed import seed
from web_seed import seed_profile
from web_seed import sync

from connectors.base import RawItem
from feeds.profile import Organisation as OrganisationSpec
from hub.models import Cluster
from hub.models import Organisation


@pytest.fixture
def companies_app(app: Flask) -> Flask:
    first, second = sync(app)[:2]
    seed(
        app,
        first,
        [
            item("a", "Toczenie CNC", org="Łódź Metal Sp. z o.o.", org_country="PL"),
            item("b", "Spawanie", org="Łódź Metal Sp. z o.o.", org_country="PL",
                 kind="job-offer"),
            item("c", "Lakierowanie", org="Łódź Metal Sp. z o.o.", org_country="PL",
                 valid_days=-1),  # expired: not a live offer
            item("d", "Cięcie 100% laserem", org="Ruda_Stal", org_country="PL"),
        ],
    )  # fmt: skip
    seed(
        app,
        second,
        [
            item("e", "Medinės žaliuzės", language="lt", org="Žaliuzės UAB",
                 org_country="LT"),
            item("f", "Metal parts wanted", language="en",
                 org="Łódź Metal Sp. z o.o.", org_country="PL"),
        ],
    )  # fmt: skip
    return app


def page(client: FlaskClient, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.fromstring(response.get_data(as_text=True))


def names(doc: html.HtmlElement) -> list[str]:
    return [a.text_content() for a in doc.cssselect("li.company a.title")]


def cluster_names(app: Flask, lang: str) -> dict[int, str]:
    with app.extensions["ecoop.sessions"]() as db:
        return {c.id: c.display_name(lang) for c in db.scalars(sa.select(Cluster))}


def test_directory_lists_organisations_with_clusters_and_live_offers(
    companies_app: Flask, client: FlaskClient
) -> None:
    doc = page(client, "/pl/companies/")
    assert names(doc) == ["Łódź Metal Sp. z o.o.", "Ruda_Stal", "Žaliuzės UAB"]
    lodz = doc.cssselect("li.company")[0]
    assert lodz.cssselect(".count")[0].text_content() == "3 oferty"  # not the expired
    first, second = sync(companies_app)[:2]
    clusters = cluster_names(companies_app, "pl")
    meta = lodz.cssselect(".meta")[0].text_content()
    assert clusters[first.cluster_id] in meta and clusters[second.cluster_id] in meta
    assert "Polska" in meta


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lodz", ["Łódź Metal Sp. z o.o."]),
        ("ŁÓDŹ metal", ["Łódź Metal Sp. z o.o."]),
        ("zaliuzes", ["Žaliuzės UAB"]),
        ("%", []),  # LIKE's wildcards are plain characters
        ("_", ["Ruda_Stal"]),
        ("submarine", []),
    ],
)
def test_directory_search_folds_diacritics(
    companies_app: Flask, client: FlaskClient, text: str, expected: list[str]
) -> None:
    doc = page(client, f"/en/companies/?q={text.replace('%', '%25')}")
    assert names(doc) == expected
    if not expected:
        empty = doc.cssselect("p.empty")[0]
        assert "No company matches your search." in empty.text_content()
        assert empty.cssselect("a")[0].get("href") == "/en/companies/"


def test_directory_filters_by_cluster_and_country(
    companies_app: Flask, client: FlaskClient
) -> None:
    second = sync(companies_app)[1]
    with companies_app.extensions["ecoop.sessions"]() as db:
        slug = db.get(Cluster, second.cluster_id).slug  # type: ignore[union-attr]
    assert names(page(client, f"/en/companies/?cluster={slug}")) == [
        "Łódź Metal Sp. z o.o.",
        "Žaliuzės UAB",
    ]
    assert names(page(client, "/en/companies/?country=lt")) == ["Žaliuzės UAB"]


def test_company_page_shows_its_live_offers(
    companies_app: Flask, client: FlaskClient
) -> None:
    directory = page(client, "/lt/companies/?q=lodz")
    href = directory.cssselect("li.company a.title")[0].get("href")
    assert re.fullmatch(r"/lt/companies/\d+/", href)
    doc = page(client, href)
    assert doc.cssselect("h1")[0].text_content() == "Łódź Metal Sp. z o.o."
    offers = {a.text_content() for a in doc.cssselect("li.offer a.title")}
    assert offers == {"Toczenie CNC", "Spawanie", "Metal parts wanted"}
    # content keeps its language
    langs = {a.get("lang") for a in doc.cssselect("li.offer a.title")}
    assert langs == {"pl", "en"}
    clusters = [a.get("href") for a in doc.cssselect("dl.facts a")]
    assert all(re.fullmatch(r"/lt/clusters/[\w-]+/", h) for h in clusters)
    assert len(clusters) == 2


def test_offer_page_links_its_company(
    companies_app: Flask, client: FlaskClient
) -> None:
    with companies_app.extensions["ecoop.sessions"]() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.name == "Ruda_Stal"))
        assert org is not None
        org_id = org.id
    doc = page(client, f"/en/companies/{org_id}/")
    offer = doc.cssselect("li.offer a.title")[0].get("href")
    link = page(client, offer).cssselect("dd.org a")[0]
    assert link.get("href") == f"/en/companies/{org_id}/"


def test_unknown_company_is_not_found(
    companies_app: Flask, client: FlaskClient
) -> None:
    page(client, "/en/companies/999999/", status=404)
    page(client, "/en/companies/abc/", status=404)


def test_directory_without_organisations_says_so(client: FlaskClient) -> None:
    doc = page(client, "/en/companies/")
    assert names(doc) == []
    assert "No company matches your search." in doc.text_content()


def test_company_page_shows_its_profile(
    companies_app: Flask, client: FlaskClient
) -> None:
    third = sync(companies_app)[0]
    profile = RawItem(
        guid="profile-ruda",
        link="https://member.example/firmy/ruda",
        title="Ruda_Stal",
        content="<p>Cięcie <b>laserem</b><script>alert(1)</script></p>",
        language="pl",
        organisation=OrganisationSpec(
            "Ruda_Stal", country="PL", capabilities=("cięcie laserowe", "gięcie")
        ),
        sectors=("25.62",),
    )
    seed_profile(companies_app, third, profile)
    with companies_app.extensions["ecoop.sessions"]() as db:
        org_id = db.scalar(
            sa.select(Organisation.id).where(Organisation.name == "Ruda_Stal")
        )
    doc = page(client, f"/en/companies/{org_id}/")
    body = doc.cssselect("div.lead")[0]
    assert body.get("lang") == "pl"
    assert body.text_content() == "Cięcie laserem"
    facts = doc.cssselect("dl.facts")[0].text_content()
    assert "cięcie laserowe" in facts and "25.62 Machining" in facts
    assert (
        doc.cssselect("a.button")[0].get("href") == "https://member.example/firmy/ruda"
    )
    assert "alert" not in html.tostring(doc, encoding="unicode")
