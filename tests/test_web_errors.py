"""Error answers of the site are its own pages, in the visitor's language; the API
keeps answering in JSON."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from lxml import html


@pytest.mark.parametrize(
    ("path", "headers", "language", "heading"),
    [
        ("/pl/nie-ma-takiej-strony", {}, "pl", "Nie znaleziono strony"),
        ("/lt/offers/999999", {}, "lt", "Puslapis nerastas"),
        ("/de/offers/", {"Accept-Language": "lt"}, "lt", "Puslapis nerastas"),
        ("/en/companies/999999/", {}, "en", "Page not found"),
        # past a 64-bit key: SQLite's driver raised OverflowError (a 500)
        (f"/pl/offers/{2**64}", {}, "pl", "Nie znaleziono strony"),
        (f"/en/companies/{2**63}/", {}, "en", "Page not found"),
        ("/lt/offers/" + "9" * 5000, {}, "lt", "Puslapis nerastas"),
    ],
)
def test_a_missing_page_is_a_page_of_the_site_in_its_language(
    client: FlaskClient, path: str, headers: dict[str, str], language: str, heading: str
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    doc = html.fromstring(response.get_data(as_text=True))
    assert doc.get("lang") == language
    assert doc.cssselect("h1")[0].text_content() == heading
    assert doc.cssselect("header.site nav a")  # the site's navigation is there
    assert response.headers["Cache-Control"] == "no-store"


def test_a_refused_method_keeps_its_allow_header(client: FlaskClient) -> None:
    response = client.post("/en/offers/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.content_type.startswith("text/html")


def test_a_form_without_its_token_says_so_in_the_visitors_language(
    client: FlaskClient,
) -> None:
    response = client.post("/pl/check-feed/", data={"url": "https://example.org/"})
    assert response.status_code == 400
    text = html.fromstring(response.get_data(as_text=True)).text_content()
    assert "Formularz wygasł" in text


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", f"/api/v1/offers/{2**64}"])
def test_the_api_answers_errors_in_json(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]


# Past a 64-bit key (SQLite's driver raised OverflowError), and past the 4,300 digits
# Python reads (int() raised ValueError): both were 500s any visitor could cause.
HUGE = [str(2**64), "9" * 5000]


@pytest.mark.parametrize("number", HUGE, ids=["2**64", "5000 digits"])
@pytest.mark.parametrize(
    "template",
    [
        "/en/offers/?page={}",
        "/en/offers/?organisation={}",
        "/en/jobs/?page={}",
        "/en/companies/?page={}",
    ],
)
def test_a_number_past_every_range_in_a_query_is_still_a_page(
    client: FlaskClient, template: str, number: str
) -> None:
    assert client.get(template.format(number)).status_code == 200


@pytest.mark.parametrize("number", HUGE, ids=["2**64", "5000 digits"])
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("/api/v1/organisations?page={}", "page: expected an integer from 1 to 1000"),
        ("/api/v1/offers?organisation={}", "organisation: expected an organisation id"),
        ("/api/v1/offers?limit={}", "limit: expected an integer from 1 to "),
    ],
)
def test_the_api_refuses_a_number_past_its_range_by_name(
    client: FlaskClient, template: str, message: str, number: str
) -> None:
    response = client.get(template.format(number))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
