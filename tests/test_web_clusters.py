"""Cluster pages and the clusters list, through Flask's test client."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from web_seed import item
from web_seed import seed
from web_seed import sync

from hub.models import Cluster
from hub.models import Offer
from hub.models import Source


@pytest.fixture
def cluster_app(app: Flask) -> Flask:
    first = sync(app)[0]
    seed(
        app,
        first,
        [
            item("j1", "Spawacz", kind="job-offer", days_ago=2),
            item("j2", "Tokarz", kind="job-offer", days_ago=3),
            item("b1", "Obróbka CNC", days_ago=1),
            item("x1", "Stara oferta", valid_days=-1),  # expired
        ],
    )
    return app


def page(client: FlaskClient, url: str, status: int = 200) -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.fromstring(response.get_data(as_text=True))


def first_cluster(app: Flask) -> Cluster:
    source = sync(app)[0]
    with app.extensions["ecoop.sessions"]() as db:
        cluster = db.get(Cluster, source.cluster_id)
        assert cluster is not None
        db.expunge(cluster)
    return cluster


def test_cluster_page_shows_facts_sources_counts_and_newest_offers(
    cluster_app: Flask, client: FlaskClient
) -> None:
    cluster = first_cluster(cluster_app)
    doc = page(client, f"/pl/clusters/{cluster.slug}/")
    assert doc.cssselect("h1")[0].text_content() == cluster.display_name("pl")
    facts = doc.cssselect("dl.facts")[0].text_content()
    assert cluster.homepage in facts
    assert {"PL": "Polska", "LT": "Litwa"}[cluster.country] in facts
    kinds = [li.text_content().strip() for li in doc.cssselect("ul.kinds li")]
    assert kinds == ["Oferta pracy: 2", "Oferta handlowa: 1"]
    assert doc.cssselect("ul.kinds a")[0].get("href") == (
        f"/pl/offers/?cluster={cluster.slug}&kind=job-offer"
    )
    with cluster_app.extensions["ecoop.sessions"]() as db:
        keys = db.scalars(
            sa.select(Source.key).where(Source.cluster_id == cluster.id, Source.active)
        ).all()
    sources = doc.cssselect("li.source")
    assert [s.cssselect(".key")[0].text_content() for s in sources] == sorted(keys)
    assert all("Jeszcze nie pobrano" in s.text_content() for s in sources)  # no run yet
    newest = [a.text_content() for a in doc.cssselect("li.offer a.title")]
    assert newest == ["Obróbka CNC", "Spawacz", "Tokarz"]


def test_cluster_page_shows_its_description_in_the_visitors_language(
    cluster_app: Flask, client: FlaskClient
) -> None:
    cluster = first_cluster(cluster_app)
    for lang in ("pl", "lt", "en"):
        doc = page(client, f"/{lang}/clusters/{cluster.slug}/")
        text = cluster.description.get(lang) or cluster.description.get("en")
        lead = doc.cssselect("p.lead")
        assert [p.text_content() for p in lead] == ([text] if text else [])


def test_clusters_are_linked_from_home_list_and_offer_pages(
    cluster_app: Flask, client: FlaskClient
) -> None:
    cluster = first_cluster(cluster_app)
    href = f"/en/clusters/{cluster.slug}/"
    assert href in [
        a.get("href") for a in page(client, "/en/").cssselect("li.cluster h3 a")
    ]
    listed = page(client, "/en/clusters/")
    with cluster_app.extensions["ecoop.sessions"]() as db:
        active = db.scalar(sa.select(sa.func.count()).where(Cluster.active))
        offer = db.scalar(sa.select(Offer.id).where(Offer.cluster_id == cluster.id))
    assert len(listed.cssselect("li.cluster")) == active
    assert href in [a.get("href") for a in listed.cssselect("li.cluster h3 a")]
    assert href in [
        a.get("href")
        for a in page(client, f"/en/offers/{offer}").cssselect("dl.facts a")
    ]


def test_unknown_cluster_is_not_found(client: FlaskClient) -> None:
    page(client, "/en/clusters/no-such-cluster/", status=404)


def test_cluster_without_offers_says_so(client: FlaskClient, app: Flask) -> None:
    cluster = first_cluster(app)
    doc = page(client, f"/en/clusters/{cluster.slug}/")
    assert doc.cssselect("ul.kinds") == []
    assert "No offers have been harvested yet." in doc.text_content()
