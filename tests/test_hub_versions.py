"""Language versions of one offer: one result per real offer, the visitor's version
first, found by the words of any version."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import add_offers
from index_data import offer_data


def _laser_in_three_languages(app: Flask) -> dict[str, int]:
    return add_offers(
        app,
        METAL,
        offer_data("17-pl", "Cięcie laserowe blach", language="pl", group="g17"),
        offer_data("17-lt", "Lakštų pjovimas lazeriu", language="lt", group="g17"),
        offer_data("17-en", "Laser cutting of sheet metal", language="en", group="g17"),
        offer_data("18-pl", "Gięcie blach na prasie", language="pl", group="g18"),
        offer_data("18-lt", "Lakštų lankstymas", language="lt", group="g18"),
        offer_data("19", "Spawanie TIG", language="pl"),
    )


def _titles(client: FlaskClient, path: str) -> list[str]:
    page = client.get(path).get_data(as_text=True)
    return [
        title
        for title in (
            "Cięcie laserowe blach",
            "Lakštų pjovimas lazeriu",
            "Laser cutting of sheet metal",
            "Gięcie blach na prasie",
            "Lakštų lankstymas",
            "Spawanie TIG",
        )
        if title in page
    ]


def test_each_offer_is_listed_once_in_the_visitors_language(
    app: Flask, client: FlaskClient
) -> None:
    _laser_in_three_languages(app)
    assert _titles(client, "/pl/offers/") == [
        "Cięcie laserowe blach",
        "Gięcie blach na prasie",
        "Spawanie TIG",
    ]
    assert _titles(client, "/lt/offers/") == [
        "Lakštų pjovimas lazeriu",
        "Lakštų lankstymas",
        "Spawanie TIG",
    ]
    # no English version of 18: English stands for the group where it exists, else
    # the first version seen
    assert _titles(client, "/en/offers/") == [
        "Laser cutting of sheet metal",
        "Gięcie blach na prasie",
        "Spawanie TIG",
    ]
    assert _titles(client, "/pl/") == _titles(client, "/pl/offers/")


def test_any_versions_words_find_the_visitors_version(
    app: Flask, client: FlaskClient
) -> None:
    _laser_in_three_languages(app)
    assert _titles(client, "/pl/offers/?q=pjovimas") == ["Cięcie laserowe blach"]
    assert _titles(client, "/lt/offers/?q=ciecie") == ["Lakštų pjovimas lazeriu"]
    page = client.get("/pl/offers/?q=blach&facets=1").get_data(as_text=True)
    assert "Lakštų" not in page


def test_the_offer_page_still_links_every_version(
    app: Flask, client: FlaskClient
) -> None:
    ids = _laser_in_three_languages(app)
    page = client.get(f"/pl/offers/{ids['17-pl']}").get_data(as_text=True)
    assert f"/offers/{ids['17-lt']}" in page and f"/offers/{ids['17-en']}" in page


def test_the_api_lists_every_version(app: Flask, client: FlaskClient) -> None:
    _laser_in_three_languages(app)
    items = client.get("/api/v1/offers?limit=50").get_json()["offers"]
    assert len(items) == 6
