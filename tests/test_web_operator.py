"""The operator on the status page (sign in with the operator token, "harvest now",
sign out) and CSRF on every state-changing route of the site."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from web_seed import sync

from hub.models import Source
from hub.scheduler import utcnow

TOKEN = "operator-secret-ø"


@pytest.fixture
def operator_app(app: Flask) -> Flask:
    """The app with an operator token and its sources due in an hour."""
    app.config["ECOOP_OPERATOR_TOKEN"] = TOKEN
    sync(app)
    with app.extensions["ecoop.sessions"]() as db:
        db.execute(
            sa.update(Source).values(next_check_at=utcnow() + timedelta(hours=1))
        )
        db.commit()
    return app


def doc(client: FlaskClient, url: str = "/en/status/") -> html.HtmlElement:
    response = client.get(url)
    assert response.status_code == 200
    return html.fromstring(response.get_data(as_text=True))


def csrf(client: FlaskClient, url: str = "/en/status/") -> str:
    """The token the page's forms carry (the visitor's session holds it)."""
    return str(doc(client, url).cssselect("input[name=csrf_token]")[0].get("value"))


def sign_in(client: FlaskClient, token: str = TOKEN) -> int:
    response = client.post(
        "/en/status/sign-in", data={"token": token, "csrf_token": csrf(client)}
    )
    return response.status_code


def due(app: Flask) -> dict[str, bool]:
    with app.extensions["ecoop.sessions"]() as db:
        return {
            s.key: s.next_check_at <= utcnow() for s in db.scalars(sa.select(Source))
        }


def harvest_forms(page: html.HtmlElement) -> list[html.HtmlElement]:
    return [
        f for f in page.cssselect("form") if f.get("action", "").endswith("/harvest")
    ]


def test_without_a_token_there_is_no_operator(app: Flask, client: FlaskClient) -> None:
    sync(app)
    page = doc(client)
    assert page.cssselect("input[name=token]") == []
    assert harvest_forms(page) == []
    token = csrf(client, "/en/check-feed/")
    response = client.post(
        "/en/status/sign-in", data={"token": "", "csrf_token": token}
    )
    assert response.status_code == 404


def test_operator_signs_in_and_harvests_a_source_now(
    operator_app: Flask, client: FlaskClient
) -> None:
    page = doc(client)
    assert harvest_forms(page) == []
    assert page.cssselect("input[name=token][type=password]")
    assert sign_in(client) == 303
    page = doc(client)
    forms = harvest_forms(page)
    assert len(forms) == len(page.cssselect("table.status tbody tr"))
    key = page.cssselect("table.status tbody tr .key")[0].text_content()
    token = forms[0].cssselect("input[name=csrf_token]")[0].get("value")
    response = client.post(forms[0].get("action"), data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/en/status/"
    assert due(operator_app) == {k: k == key for k in due(operator_app)}
    assert key in doc(client).cssselect("p.notice")[0].text_content()


def test_a_wrong_operator_token_is_refused(
    operator_app: Flask, client: FlaskClient
) -> None:
    assert sign_in(client, "operator-secret") == 403
    assert sign_in(client, "") == 403
    assert harvest_forms(doc(client)) == []
    source = sync(operator_app)[0]
    response = client.post(
        f"/en/status/sources/{source.id}/harvest", data={"csrf_token": csrf(client)}
    )
    assert response.status_code == 403
    assert not any(due(operator_app).values())


def test_sign_in_attempts_are_rate_limited(
    operator_app: Flask, client: FlaskClient
) -> None:
    codes = [sign_in(client, "guess") for _ in range(6)]
    assert codes == [403] * 5 + [429]
    assert sign_in(client) == 429  # even the right token must wait


def test_harvest_now_needs_the_csrf_token(
    operator_app: Flask, client: FlaskClient
) -> None:
    assert sign_in(client) == 303
    url = harvest_forms(doc(client))[0].get("action")
    assert client.post(url).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert client.get(url).status_code == 405  # GET never changes state
    assert not any(due(operator_app).values())
    assert client.post("/en/status/sources/999999/harvest", data={
        "csrf_token": csrf(client)}).status_code == 404  # fmt: skip


def test_sign_out_ends_the_operator_session(
    operator_app: Flask, client: FlaskClient
) -> None:
    assert sign_in(client) == 303
    response = client.post("/en/status/sign-out", data={"csrf_token": csrf(client)})
    assert response.status_code == 303
    assert harvest_forms(doc(client)) == []


def test_a_new_operator_token_signs_everyone_out(
    operator_app: Flask, client: FlaskClient
) -> None:
    assert sign_in(client) == 303
    operator_app.config["ECOOP_OPERATOR_TOKEN"] = "rotated"
    assert harvest_forms(doc(client)) == []


def test_every_post_route_but_the_api_refuses_a_missing_or_wrong_token(
    operator_app: Flask, client: FlaskClient
) -> None:
    posts = [
        rule
        for rule in operator_app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.endpoint.startswith("api.")
    ]
    assert {r.endpoint for r in posts} >= {
        "checker.check_feed", "operator.sign_in", "operator.sign_out",
        "operator.harvest_now",
    }  # fmt: skip
    assert sign_in(client) == 303  # even a signed-in operator
    for rule in posts:
        url = rule.build({"lang": "en", "source_id": 1}, append_unknown=False)[1]
        assert client.post(url).status_code == 400, url
        assert client.post(url, data={"csrf_token": "x"}).status_code == 400, url


def test_checker_accepts_its_own_forms_token(
    operator_app: Flask, client: FlaskClient
) -> None:
    token = csrf(client, "/en/check-feed/")
    response = client.post("/en/check-feed/", data={"text": "x", "csrf_token": token})
    assert response.status_code == 200
    assert "The feed has errors" in response.get_data(as_text=True)
    # the ping API is machine-to-machine: no token, no cookie
    fresh = operator_app.test_client()
    assert fresh.post("/api/v1/ping", json={"source": "nope"}).status_code == 404
