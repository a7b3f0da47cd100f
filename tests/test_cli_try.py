"""``ecoop clusters try``: a dry run of a registry's sources that prints what each
would give and writes nothing; it fetches like the worker (limits, network policy)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from helpers import write_registry
from pytest_httpserver import HTTPServer

from hub import create_app
from hub.cli import main

DATA = Path(__file__).resolve().parent / "data"
HTML_MAP = """\
        items: {css: "table.skelbimai tr:has(td)"}
        fields:
          title: {css: td.pav a}
          link: {css: td.pav a}
          date: {css: td.data}
          category: {css: span.kat}
          town: {css: td.miestas}
        next: {css: a.kitas}
        rules:
          - when: {category: Užklausa}
            kind: business-request
"""


def _serve(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("")
    httpserver.expect_request("/skelbimai", query_string="psl=2").respond_with_data(
        (DATA / "html" / "lt-page2.html").read_bytes(), content_type="text/html"
    )
    httpserver.expect_request("/skelbimai").respond_with_data(
        (DATA / "html" / "lt-page1.html").read_bytes(), content_type="text/html"
    )
    httpserver.expect_request("/nauja").respond_with_data(
        (DATA / "html" / "pl-redesign.html").read_bytes(), content_type="text/html"
    )
    httpserver.expect_request("/feed").respond_with_data(
        (DATA / "rss" / "basic.xml").read_bytes(), content_type="application/rss+xml"
    )


def _registry(tmp_path: Path, httpserver: HTTPServer, *paths: str) -> Path:
    """One cluster with an ``html`` source per listing path and ``rss`` for /feed."""
    path = write_registry(
        tmp_path / "clusters.yaml",
        {p.strip("/"): httpserver.url_for(p) for p in paths if p != "/feed"},
        type_="html",
        options=HTML_MAP,
    )
    if "/feed" in paths:
        with path.open("a", encoding="utf-8") as f:
            f.write(
                f"      - {{id: feed, type: rss, url: {httpserver.url_for('/feed')}}}\n"
            )
    return path


def _rows(app: Flask) -> dict[str, int]:
    engine = app.extensions["ecoop.engine"]
    with engine.connect() as connection:
        return {
            table: connection.execute(
                sa.text(f'SELECT count(*) FROM "{table}"')
            ).scalar_one()
            for table in sa.inspect(engine).get_table_names()
            if table != "alembic_version"
        }


def test_try_prints_what_each_source_gives_and_writes_nothing(
    app: Flask,
    ecoop: Callable[..., Result],
    httpserver: HTTPServer,
    tmp_path: Path,
) -> None:
    _serve(httpserver)
    registry = _registry(tmp_path, httpserver, "/skelbimai", "/nauja")
    before = _rows(app)
    result = ecoop("clusters", "try", str(registry))
    assert _rows(app) == before
    assert result.exit_code == 1, result.output  # one source gave nothing
    listing, changed, total = result.output.split("\n\n")
    assert listing.splitlines() == [
        f"metal/skelbimai  (html)  {httpserver.url_for('/skelbimai')}",
        "  items      4 (1 skipped)",
        "  kinds      business-offer 3, business-request 1",
        "  languages  lt 3, en 1",
        "  towns      Alytus 1, Druskininkai 1, Kaunas 1, Šiauliai 1",
        "  empty      valid_through in 4/4, body in 4/4, organisation in 4/4",
    ]
    assert changed.splitlines()[-1] == (
        "  error      parse: items: css: table.skelbimai tr:has(td) matched nothing "
        f"({httpserver.url_for('/nauja')})"
    )
    assert total.strip() == "2 source(s): 1 gave items, 1 did not"


def test_try_exits_0_when_every_source_gives_offers_and_filters_by_source(
    ecoop: Callable[..., Result], httpserver: HTTPServer, tmp_path: Path
) -> None:
    _serve(httpserver)
    registry = _registry(tmp_path, httpserver, "/skelbimai", "/nauja", "/feed")
    result = ecoop("clusters", "try", str(registry), "--source", "skelbimai")
    assert result.exit_code == 0, result.output
    assert result.output.count("(html)") == 1 and "/nauja" not in result.output
    result = ecoop("clusters", "try", str(registry), "--source", "metal/feed")
    assert result.exit_code == 0, result.output
    assert "metal/feed  (rss)" in result.output
    result = ecoop("clusters", "try", str(registry), "--cluster", "nosuch")
    assert result.exit_code == 2


def test_try_refuses_a_bad_file_naming_line_and_field(
    ecoop: Callable[..., Result], tmp_path: Path
) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"x": "https://x.example/"},
        type_="html",
        options="        items: {css: 'tr'}\n        fields: {title: {css: '..'}}\n",
    )
    result = ecoop("clusters", "try", str(path))
    assert result.exit_code == 1
    assert f"{path}:14: clusters[0].sources[0].fields.title: bad CSS selector" in (
        result.output
    )


@pytest.fixture
def public_only_app(db_url: str, engine: sa.Engine) -> Iterator[Flask]:
    """An app with the production network policy: no loopback destinations."""
    app = create_app({"DATABASE_URL": db_url, "ECOOP_SCHEDULER": False})
    yield app
    app.extensions["ecoop.engine"].dispose()


def test_try_fetches_under_the_network_policy_like_the_worker(
    public_only_app: Flask, httpserver: HTTPServer, tmp_path: Path
) -> None:
    _serve(httpserver)
    registry = _registry(tmp_path, httpserver, "/skelbimai")
    result = public_only_app.test_cli_runner().invoke(
        main, ["clusters", "try", str(registry)]
    )
    assert result.exit_code == 1
    assert "destination 127.0.0.1 is loopback" in result.output
    assert not httpserver.log  # nothing reached the server
