"""The offer page suggests similar offers: same kind, shared sectors, occupations,
categories and town first; never the offer itself or its other versions."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import WOOD
from index_data import add_offers
from index_data import offer_data
from lxml import html


def _similar(client: FlaskClient, offer_id: int) -> list[str]:
    doc = html.fromstring(client.get(f"/pl/offers/{offer_id}").get_data(as_text=True))
    return [a.text_content() for a in doc.cssselect("section.similar a.title")]


def test_similar_offers_share_what_matters_most(
    app: Flask, client: FlaskClient
) -> None:
    metal = add_offers(
        app,
        METAL,
        offer_data("a-pl", "Spawanie TIG", sectors=("25.62",), town="Ełk", group="a"),
        offer_data("a-en", "TIG welding", language="en", sectors=("25.62",), group="a"),
        offer_data("b", "Spawanie MIG", sectors=("25.62",), days_ago=5),
        offer_data("c", "Cięcie laserem", town="Ełk", days_ago=2),
        offer_data("d", "Spawacz", kind="job-offer", sectors=("25.62",)),
    )
    add_offers(app, WOOD, offer_data("e", "Lentos", language="lt", days_ago=1))
    assert _similar(client, metal["a-pl"]) == ["Spawanie MIG", "Cięcie laserem"]
    assert _similar(client, metal["d"]) == []  # the only job offer
