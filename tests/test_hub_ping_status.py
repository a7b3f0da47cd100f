"""The ping endpoint, the status page and `ecoop status`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from feeds.samples import SampleSites
from feeds.samples import sample_offers
from hub.models import Source
from hub.registry import load


def source(app: Flask, key: str) -> Source:
    with app.extensions["ecoop.sessions"]() as db:
        row = db.scalar(sa.select(Source).where(Source.key == key))
        assert row is not None
        return row


def test_a_ping_makes_a_configured_source_due_now(
    harvested_app: Flask, client: FlaskClient
) -> None:
    before = source(harvested_app, "metalklaster/offers").next_check_at
    response = client.post("/api/v1/ping", json={"source": "metalklaster/offers"})
    assert response.status_code == 202
    assert response.get_json()["source"] == "metalklaster/offers"
    assert source(harvested_app, "metalklaster/offers").next_check_at < before


def test_a_ping_by_url_names_the_source_by_its_configured_url(
    harvested_app: Flask, client: FlaskClient
) -> None:
    url = source(harvested_app, "medienospartneriai/offers").url
    response = client.post("/api/v1/ping", data={"url": url})
    assert response.status_code == 202
    assert response.get_json()["source"] == "medienospartneriai/offers"


def test_a_ping_never_introduces_a_url(
    harvested_app: Flask, client: FlaskClient
) -> None:
    with harvested_app.extensions["ecoop.sessions"]() as db:
        before = db.scalar(sa.select(sa.func.count()).select_from(Source))
    for payload in ({"url": "http://127.0.0.1:1/elsewhere"}, {"source": "nope/x"}):
        assert client.post("/api/v1/ping", json=payload).status_code == 404
    assert client.post("/api/v1/ping", json={}).status_code == 400
    assert client.post("/api/v1/ping", json=["source"]).status_code == 400
    assert client.get("/api/v1/ping?source=metalklaster/offers").status_code == 405
    with harvested_app.extensions["ecoop.sessions"]() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Source)) == before


def test_pings_are_rate_limited_per_source(
    harvested_app: Flask, client: FlaskClient
) -> None:
    assert (
        client.post("/api/v1/ping", json={"source": "metalklaster/offers"}).status_code
        == 202
    )
    again = client.post("/api/v1/ping", json={"source": "metalklaster/offers"})
    assert again.status_code == 429
    assert 290 <= int(again.headers["Retry-After"]) <= 300
    other = client.post("/api/v1/ping", json={"source": "medienospartneriai/offers"})
    assert other.status_code == 202


def demo_sources(registry: Path) -> set[str]:
    return {source.key for source in load(registry).sources}


def test_status_page_lists_every_source_with_its_last_run(
    harvested_app: Flask,
    client: FlaskClient,
    demo_registry: Path,
    sample_sites: SampleSites,
) -> None:
    doc = html.fromstring(client.get("/en/status/").get_data(as_text=True))
    rows = {
        r.cssselect("th .key")[0].text: [
            c.text_content().strip() for c in r.cssselect("td")
        ]
        for r in doc.cssselect("table.status tbody tr")
    }
    assert set(rows) == demo_sources(demo_registry)
    cells = rows["metalklaster/offers"]
    assert cells[0] == "Healthy" and cells[2] == "Harvested" and cells[3] == "200"
    metal = sample_offers(sample_sites.clock())["metalklaster"]
    assert cells[4] == str(len(metal))  # new
    lt = html.fromstring(client.get("/lt/status/").get_data(as_text=True))
    assert lt.cssselect("h1")[0].text == "Surinkimo būsena"


def test_status_command_exits_1_when_a_source_fails(
    harvested_app: Flask,
    ecoop: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    demo_registry: Path,
) -> None:
    ok = ecoop("status")
    assert ok.exit_code == 0, ok.output
    keys = sorted(demo_sources(demo_registry))
    header, *lines = ok.output.splitlines()
    assert [line.split()[:2] for line in lines] == [[key, "ok"] for key in keys]
    # the columns line up under the header, the demo's longest key (41) included
    state = header.index("state")
    assert max(map(len, keys)) > 32
    assert [line[state : state + 9].rstrip() for line in lines] == ["ok"] * len(keys)
    monkeypatch.setenv("ECOOP_DEMO_SITES", "http://127.0.0.1:9")  # nothing listens
    harvest = ecoop("harvest", "--source", "metalklaster/offers")
    assert harvest.exit_code == 1
    assert "network" in harvest.output
    failing = ecoop("status")
    assert failing.exit_code == 1
    rows = {
        line.split()[0]: line.split()[1] for line in failing.output.splitlines()[1:]
    }
    assert rows == {
        key: "failing" if key == "metalklaster/offers" else "ok" for key in keys
    }


def test_status_command_prints_a_note_on_one_line_with_no_terminal_control(
    harvested_app: Flask, ecoop: Callable[..., Result]
) -> None:
    """A source's error may quote what a member site sent: an escape sequence in it
    must not reach the operator's terminal, nor a line break break the table."""
    with harvested_app.extensions["ecoop.sessions"]() as db:
        source = db.scalar(sa.select(Source).where(Source.key == "metalklaster/offers"))
        assert source is not None
        source.last_error = "bad\x1b[2J\nbody\u202eevil"
        db.commit()
    result = ecoop("status")
    [line] = [row for row in result.output.splitlines() if "metalklaster/offers" in row]
    assert line.endswith("bad\\x1b[2J\\nbody\\u202eevil")
    assert "\x1b" not in result.output and "\u202e" not in result.output
