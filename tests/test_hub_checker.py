"""The feed checker page: reports, previews, and never fetches private addresses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from pytest_httpserver import HTTPServer

PROFILE = Path(__file__).resolve().parent / "data" / "profile"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A visitor who loaded the form: its posts carry the session's CSRF token (as
    the X-CSRF-Token header; tests/test_web_operator.py covers the form field)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf_token"] = "test-token"
    client.environ_base["HTTP_X_CSRF_TOKEN"] = "test-token"
    return client


def doc(response) -> html.HtmlElement:  # type: ignore[no-untyped-def]
    return html.fromstring(response.get_data(as_text=True))


def test_an_uploaded_feed_gets_a_report_and_a_preview(client: FlaskClient) -> None:
    response = client.post(
        "/en/check-feed/",
        data={
            "file": (io.BytesIO((PROFILE / "example.atom").read_bytes()), "feed.atom")
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = doc(response)
    assert page.cssselect("#report-title")[0].text == "The feed is valid"
    previews = [t.text_content() for t in page.cssselect("li.offer .title")]
    assert "Spawanie i cięcie laserowe – wolne moce przerobowe" in previews


def test_pasted_text_with_errors_lists_each_with_its_place(client: FlaskClient) -> None:
    text = (PROFILE / "missing-fields.atom").read_text(encoding="utf-8")
    page = doc(client.post("/pl/check-feed/", data={"text": text}))
    assert page.cssselect("#report-title")[0].text == "Kanał zawiera błędy"
    problems = [li.text_content() for li in page.cssselect("ol.problems li")]
    assert any("entry[1] <id>" in p and "brak identyfikatora" in p for p in problems)
    assert not any("missing id" in p for p in problems)  # the visitor's language


def test_messages_keep_the_values_they_quote_in_every_language(
    client: FlaskClient,
) -> None:
    text = (PROFILE / "unknown-kind.atom").read_text(encoding="utf-8")
    for lang, said in (
        ("lt", "nežinoma rūšis 'job'"),
        ("en", "unknown kind 'job'"),
    ):
        page = doc(client.post(f"/{lang}/check-feed/", data={"text": text}))
        problems = [li.text_content() for li in page.cssselect("ol.problems li")]
        assert any(said in p for p in problems), problems


def test_a_value_quoted_in_a_message_is_text_not_markup(client: FlaskClient) -> None:
    text = (PROFILE / "unknown-kind.atom").read_text(encoding="utf-8")
    hostile = text.replace(
        "<eco:kind>job</eco:kind>",
        "<eco:kind>&lt;img src=x onerror=alert(1)&gt;</eco:kind>",
    )
    assert hostile != text
    body = client.post("/en/check-feed/", data={"text": hostile}).get_data(as_text=True)
    assert "<img src=x" not in body
    assert "unknown kind &#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in body


def test_a_page_that_is_not_a_feed_is_never_echoed(client: FlaskClient) -> None:
    secret = "<html><body>internal admin panel token=abc123</body></html>"
    body = client.post("/en/check-feed/", data={"text": secret}).get_data(as_text=True)
    assert "abc123" not in body and "The feed has errors" in body


def test_private_addresses_are_never_fetched(
    client: FlaskClient, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        (PROFILE / "example.atom").read_bytes()
    )
    for url in (
        httpserver.url_for("/feed"),
        "http://10.0.0.1/feed",
        "http://[::1]/feed",
        "http://2130706433/feed",
        "file:///etc/passwd",
    ):
        response = client.post("/en/check-feed/", data={"url": url})
        assert response.status_code == 422, url
        assert "No feed could be fetched from this address." in response.get_data(
            as_text=True
        )
    assert httpserver.log == []  # not one request reached the loopback server


def test_the_checker_is_rate_limited(client: FlaskClient) -> None:
    statuses = [
        client.post(
            "/en/check-feed/",
            data={"text": "x"},
            environ_base={"REMOTE_ADDR": "192.0.2.7"},
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
