"""The JSON API, ``/api/v1``, through Flask's test client. Every response is checked
against the schemas of the OpenAPI document the app serves (jsonschema)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from index_data import METAL
from index_data import NOW
from index_data import WOOD
from index_data import add_offers
from index_data import offer_data
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from hub.web import api_v1
from hub.web import search_args
from hub.web.numbers import MAX_PAGE

DOC_URI = "urn:ecoop:openapi"


@pytest.fixture
def openapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    doc: dict[str, Any] = response.get_json()
    assert doc["openapi"].startswith("3.1.")
    return doc


def check(doc: dict[str, Any], path: str, method: str, response: TestResponse) -> Any:
    """The response's JSON, after validating it against the schema the document
    gives for this path, method and status."""
    assert response.mimetype == "application/json", response.data[:200]
    spec = doc["paths"][path][method]["responses"][str(response.status_code)]
    pointer = ["paths", path, method, "responses", str(response.status_code)]
    if "$ref" in spec:
        pointer = spec["$ref"].lstrip("#/").split("/")
    pointer += ["content", "application/json", "schema"]
    escaped = "/".join(quote(p.replace("~", "~0").replace("/", "~1")) for p in pointer)
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{escaped}"}, registry=registry
    )
    body = response.get_json()
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)
    ]
    assert errors == [], errors
    return body


def api(client: FlaskClient, doc: dict[str, Any], url: str, status: int = 200) -> Any:
    """GET ``url``, check its status and validate it against the document."""
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True))
    path = urlsplit(url).path.removeprefix("/api/v1")
    if path.startswith("/offers/"):
        path = "/offers/{id}"
    return check(doc, path, "get", response)


@pytest.fixture
def offers(app: Flask) -> dict[str, int]:
    """Nine offers; two pairs share their publication time (the id breaks ties)."""
    ids = add_offers(
        app,
        WOOD,
        offer_data(
            "lt-weld",
            "Suvirinimas – welding",
            language="lt",
            days_ago=3,
            organisation={"name": "UAB Plienas", "country": "LT"},
        ),
        offer_data("lt-joinery", "Joinery for export", language="en", days_ago=2),
        offer_data("lt-stairs", "Oak stairs", language="en", days_ago=2),
        offer_data(
            "lt-job", "Welding job", kind="job-offer", language="en", days_ago=6
        ),
    )
    ids |= add_offers(
        app,
        METAL,
        offer_data("pl-weld", "Spawanie – welding", days_ago=4),
        offer_data("pl-laser", "Cięcie laserowe", days_ago=5),
        offer_data("pl-cnc", "Obróbka CNC", days_ago=5),
        offer_data("pl-paint", "Malowanie proszkowe", days_ago=7),
        offer_data(
            "pl-gone",
            "Wygasła oferta",
            days_ago=9,
            valid_through=NOW,  # expired on arrival: out of the results
        ),
    )
    return ids


def walk(client: FlaskClient, doc: dict[str, Any], url: str) -> list[int]:
    seen: list[int] = []
    while url:
        body = api(client, doc, url)
        seen += [o["id"] for o in body["offers"]]
        url = body["next"]
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
    return seen


def test_offers_come_newest_first_with_a_total(
    offers: dict[str, int], client: FlaskClient, openapi: dict[str, Any]
) -> None:
    body = api(client, openapi, "/api/v1/offers?limit=100")
    assert body["total"] == 8 and body["next"] is None and body["next_cursor"] is None
    dates = [(o["published_at"], o["id"]) for o in body["offers"]]
    assert dates == sorted(dates, reverse=True)
    assert offers["pl-gone"] not in [o["id"] for o in body["offers"]]


def test_pagination_walks_every_offer_once_while_new_ones_arrive(
    app: Flask,
    offers: dict[str, int],
    client: FlaskClient,
    openapi: dict[str, Any],
) -> None:
    everything = [o["id"] for o in api(client, openapi, "/api/v1/offers")["offers"]]
    first = api(client, openapi, "/api/v1/offers?limit=3")
    assert [o["id"] for o in first["offers"]] == everything[:3]
    newcomer = add_offers(app, METAL, offer_data("pl-new", "Nowa oferta", days_ago=0))
    seen = [o["id"] for o in first["offers"]]
    seen += walk(
        client,
        openapi,
        urlsplit(first["next"]).path + "?" + urlsplit(first["next"]).query,
    )
    assert seen == everything  # each exactly once, in order; the newcomer not mixed in
    assert walk(client, openapi, "/api/v1/offers?limit=3")[0] == newcomer["pl-new"]


def test_the_text_query_and_filters_are_the_sites(
    offers: dict[str, int], client: FlaskClient, openapi: dict[str, Any]
) -> None:
    def titles(query: str) -> list[str]:
        body = api(client, openapi, f"/api/v1/offers?{query}")
        return [o["title"] for o in body["offers"]]

    assert titles("q=welding&country=LT") == ["Suvirinimas – welding", "Welding job"]
    assert titles("q=WELDING&kind=job-offer") == ["Welding job"]
    assert titles("q=obrobka") == ["Obróbka CNC"]  # diacritic-blind
    assert titles("cluster=metalklaster&q=-welding") == [
        "Obróbka CNC",
        "Cięcie laserowe",
        "Malowanie proszkowe",
    ]
    assert titles("language=lt") == ["Suvirinimas – welding"]
    org = api(client, openapi, "/api/v1/offers?q=suvirinimas")["offers"][0]
    assert titles(f"organisation={org['organisation']['id']}") == [
        "Suvirinimas – welding"
    ]
    walked = walk(client, openapi, "/api/v1/offers?q=welding&limit=1")
    assert len(walked) == 3 and len(set(walked)) == 3  # the cursor keeps the query


def test_facets_are_counted_when_asked_for(
    offers: dict[str, int], client: FlaskClient, openapi: dict[str, Any]
) -> None:
    assert "facets" not in api(client, openapi, "/api/v1/offers")
    body = api(client, openapi, "/api/v1/offers?facets=true&country=LT")
    assert set(body["facets"]) == {"kind", "cluster", "country", "language"}
    kinds = {f["value"]: f["count"] for f in body["facets"]["kind"]}
    assert kinds == {"business-offer": 3, "job-offer": 1}
    countries = {f["value"]: f["count"] for f in body["facets"]["country"]}
    assert countries == {"LT": 4, "PL": 4}  # a facet ignores its own filter
    body = api(client, openapi, "/api/v1/offers?facets=posted,cluster")
    assert set(body["facets"]) == {"posted", "cluster"}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "facets=colour",
        "posted=5",
        "organisation=acme",
        "cursor=not-a-cursor",
        "cursor=" + base64.urlsafe_b64encode(b'{"v": 1}').decode(),
        "cursor=" + base64.urlsafe_b64encode(b"[1, 2]").decode(),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    app: Flask, client: FlaskClient, openapi: dict[str, Any], query: str
) -> None:
    body = api(client, openapi, f"/api/v1/offers?{query}", status=400)
    assert query.split("=")[0] in body["error"]


def test_a_cursor_of_another_query_is_refused(
    offers: dict[str, int], client: FlaskClient, openapi: dict[str, Any]
) -> None:
    cursor = api(client, openapi, "/api/v1/offers?q=welding&limit=1")["next_cursor"]
    assert cursor
    api(client, openapi, f"/api/v1/offers?q=welding&limit=1&cursor={cursor}")
    api(client, openapi, f"/api/v1/offers?q=oak&cursor={cursor}", status=400)


def test_one_offer_with_body_and_language_versions(
    app: Flask, client: FlaskClient, openapi: dict[str, Any]
) -> None:
    ids = add_offers(
        app,
        WOOD,
        offer_data("oak-lt", "Ąžuoliniai laiptai", language="lt", group="oak"),
        offer_data("oak-en", "Oak stairs", language="en", group="oak"),
    )
    body = api(client, openapi, f"/api/v1/offers/{ids['oak-lt']}")
    assert body["title"] == "Ąžuoliniai laiptai" and body["body_html"]
    assert body["versions"] == [
        {"id": ids["oak-en"], "language": "en", "title": "Oak stairs"}
    ]
    assert body["pages"]["lt"] == f"http://localhost/lt/offers/{ids['oak-lt']}"
    assert body["url"] == "https://member.example/offers/oak-lt"
    api(client, openapi, "/api/v1/offers/999999", status=404)


def test_harvested_javascript_links_never_reach_the_api(
    app: Flask, client: FlaskClient, openapi: dict[str, Any]
) -> None:
    ids = add_offers(
        app,
        METAL,
        offer_data(
            "evil",
            "Cheap steel",
            url="javascript:alert(1)",
            body_html='<p><a href="javascript:alert(2)">x</a></p>',
            organisation={"name": "Evil Ltd", "website": "JavaScript:alert(3)"},
        ),
    )
    for url in (
        "/api/v1/offers",
        f"/api/v1/offers/{ids['evil']}",
        "/api/v1/organisations",
    ):
        data = client.get(url).get_data(as_text=True)
        assert "Cheap steel" in data or "Evil Ltd" in data
        assert "javascript:" not in data.lower(), url
    offer = api(client, openapi, f"/api/v1/offers/{ids['evil']}")
    assert offer["url"] is None and offer["organisation"]["website"] is None


def test_clusters_with_live_counts(
    offers: dict[str, int], client: FlaskClient, openapi: dict[str, Any]
) -> None:
    body = api(client, openapi, "/api/v1/clusters")
    counts = {c["slug"]: c["offers"] for c in body["clusters"]}
    assert counts == {"medienospartneriai": 4, "metalklaster": 4}
    assert all(c["name"].keys() >= {"pl", "lt", "en"} for c in body["clusters"])


def test_organisations_page_by_name(
    app: Flask, client: FlaskClient, openapi: dict[str, Any]
) -> None:
    add_offers(
        app,
        METAL,
        *(
            offer_data(f"o{n}", f"Oferta {n}", organisation={"name": name})
            for n, name in enumerate(["Łoś Sp. z o.o.", "Alfa", "Beta", "Zeta"])
        ),
    )
    first = api(client, openapi, "/api/v1/organisations?limit=3")
    assert first["total"] == 4 and first["pages"] == 2
    assert [o["name"] for o in first["organisations"]] == [
        "Alfa",
        "Beta",
        "Łoś Sp. z o.o.",
    ]
    assert first["organisations"][0]["clusters"] == ["metalklaster"]
    assert first["organisations"][0]["offers"] == 1
    parts = urlsplit(first["next"])
    second = api(client, openapi, f"{parts.path}?{parts.query}")
    assert [o["name"] for o in second["organisations"]] == ["Zeta"]
    assert second["next"] is None
    found = api(client, openapi, "/api/v1/organisations?q=los")
    assert [o["name"] for o in found["organisations"]] == ["Łoś Sp. z o.o."]
    api(client, openapi, "/api/v1/organisations?page=0", status=400)


def test_sources_report_their_harvest_health(
    harvested_app: Flask, client: FlaskClient, openapi: dict[str, Any]
) -> None:
    body = api(client, openapi, "/api/v1/sources")
    keys = {s["key"] for s in body["sources"]}
    assert {METAL, WOOD} <= keys
    for source in body["sources"]:
        assert source["state"] == "ok" and source["last_run"]["status"] == "ok"
        assert source["last_run"]["items_new"] > 0


def test_unknown_endpoints_and_methods_answer_in_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and "error" in response.get_json()
    response = client.get("/api/v1/ping")  # a POST endpoint
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_the_ping_answers_as_documented(
    app: Flask, client: FlaskClient, openapi: dict[str, Any]
) -> None:
    response = client.post("/api/v1/ping", json={"source": "nowhere/feed"})
    assert response.status_code == 404
    check(openapi, "/ping", "post", response)


def test_responses_revalidate_with_an_etag(
    offers: dict[str, int], client: FlaskClient
) -> None:
    first = client.get("/api/v1/clusters")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    again = client.get(
        "/api/v1/clusters", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_the_document_describes_every_endpoint_and_search_parameter(
    app: Flask, openapi: dict[str, Any]
) -> None:
    served = {
        rule.rule.removeprefix("/api/v1").replace("<id:offer_id>", "{id}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and "<path:" not in rule.rule
    }
    assert served == set(openapi["paths"])
    documented = {p["name"] for p in openapi["paths"]["/offers"]["get"]["parameters"]}
    assert documented == {"q", *search_args.FILTERS, "facets", "limit", "cursor"}
    paged = openapi["paths"]["/organisations"]["get"]["parameters"]
    [page] = [p for p in paged if p["name"] == "page"]
    assert page["schema"]["maximum"] == MAX_PAGE
    assert api_v1.openapi_document() is api_v1.openapi_document()  # read once
