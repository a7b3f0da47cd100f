"""The jsonld connector: schema.org JSON-LD and microdata pages (golden files: page
beside expected raw items), its YAML keys, listing pages with links and pagination,
and harvests through the harvester on loopback."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import LOOPBACK
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors import get_connector
from connectors.base import ConnectorError
from connectors.base import FetchResult
from connectors.base import ParsedDocument
from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.http import fetch
from connectors.http import make_http
from connectors.jsonld import read_page
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.models import Organisation
from hub.registry import RegistryError
from hub.registry import load

DATA = Path(__file__).resolve().parent / "data" / "jsonld"
GOLDEN = sorted(DATA.glob("*.html"))
PAGE = "https://klaster.example.pl/oferty/strona"


def source(url: str = PAGE, **options: Any) -> Source:
    return Source(
        key="c/s",
        cluster="c",
        type="jsonld",
        url=url,
        interval=timedelta(hours=1),
        options=options,
    )


def as_json(items: list[RawItem]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        data = dataclasses.asdict(item)
        for key in ("published", "updated", "valid_through"):
            data[key] = data[key].isoformat() if data[key] else None
        out.append(json.loads(json.dumps(data, default=list)))
    return out


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_page_matches_golden_file(path: Path) -> None:
    page = read_page(source(), FetchResult(PAGE, 200, {}, path.read_bytes()))
    expected = json.loads(path.with_name(path.name + ".json").read_text("utf-8"))
    assert as_json(page.items) == expected
    assert page.broken == (path.name == "broken.html")


def test_declared_legacy_charsets_come_out_right() -> None:
    """windows-1257 and ISO-8859-2 pages declared in <meta>, no charset in headers."""
    lt = read_page(source(), FetchResult(PAGE, 200, {}, _bytes("legacy-windows-1257")))
    pl = read_page(source(), FetchResult(PAGE, 200, {}, _bytes("legacy-iso-8859-2")))
    assert lt.items[0].title == "Suvirintojas (-a) – Marijampolė"
    assert lt.items[0].organisation.name == "UAB „Šiaurės plienas“"  # type: ignore[union-attr]
    assert pl.items[0].title == "Gięcie blach na prasie krawędziowej"
    assert pl.items[0].organisation.town == "Łomża"  # type: ignore[union-attr]


def test_a_yoast_graph_yields_the_job_and_not_the_site_publisher() -> None:
    items = read_page(source(), FetchResult(PAGE, 200, {}, _bytes("wp-job-manager")))
    assert [(i.kind, i.title) for i in items.items] == [
        ("job-offer", "CNC staklių operatorius")
    ]


def test_a_company_page_is_carried_as_a_company_profile() -> None:
    [item] = read_page(source(), FetchResult(PAGE, 200, {}, _bytes("company"))).items
    assert item.kind is None
    assert item.organisation is not None
    assert item.organisation.capabilities == (
        "CNC frezavimas",
        "Baldų gamyba",
        "Medžio apdirbimas",
    )
    assert item.organisation.identifiers == {
        "vat": "LT100001234567",
        "jar": "301234567",
    }


def test_a_page_that_is_not_html_is_refused() -> None:
    with pytest.raises(ParseError) as e:
        read_page(source(), FetchResult(PAGE, 200, {}, b'{"title": "x"}'))
    assert "not an HTML page" in e.value.message


def _bytes(name: str) -> bytes:
    return (DATA / f"{name}.html").read_bytes()


# --- YAML keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ("        links: {xpath: '//a[@class='}\n", "links", "not a valid expression"),
        ("        links: {css: 'a..job'}\n", "links", "not a valid expression"),
        ("        links: {xpath: '//a', css: 'a'}\n", "links", "exactly one"),
        ("        next: {css: 'a.next'}\n", "", "give 'links' too"),
        ("        include: '(unclosed'\n", "include", "not a regular expression"),
        ("        pages: [ftp://x.example/]\n", "pages", "not an http(s) URL"),
        ("        link: {css: a}\n", "link", "unknown field"),
    ],
)
def test_wrong_keys_are_refused_with_file_line_and_field(
    tmp_path: Path, options: str, field: str, message: str
) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"jobs": "https://klaster.example.pl/"},
        type_="jsonld",
        options=options,
    )
    with pytest.raises(RegistryError) as e:
        load(path)
    [problem] = e.value.problems
    assert problem.startswith(f"{path}:")
    assert f"clusters[0].sources[0]{'.' + field if field else ''}: " in problem
    assert message in problem


def test_keys_reach_the_source_options(tmp_path: Path) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"jobs": "https://klaster.example.pl/praca/"},
        type_="jsonld",
        options="        links: {css: 'h2.job a'}\n"
        "        next: {xpath: '//a[@rel=\"next\"]/@href'}\n",
    )
    [spec] = load(path).sources
    assert spec.options["links"] == {"css": "h2.job a"}
    assert spec.options["next"] == {"xpath": '//a[@rel="next"]/@href'}


# --- listing pages, through a local server ------------------------------------------


def job(guid: str, title: str, extra: str = "") -> str:
    return (
        "<!DOCTYPE html><html lang='pl'><head><script type='application/ld+json'>"
        f'{{"@context": "https://schema.org", "@type": "JobPosting", "identifier": '
        f'"{guid}", "title": "{title}"{extra}}}</script></head><body></body></html>'
    )


LISTING_1 = """<!DOCTYPE html><html><body>
<ul class="jobs">
  <li><h2 class="job"><a href="/praca/1">Spawacz</a></h2></li>
  <li><h2 class="job"><a href="2?utm_source=list#top">Tokarz</a></h2></li>
  <li><h2 class="job"><a href="https://praca.evil.example.com/3">Elsewhere</a></h2></li>
</ul>
<a href="/">Home</a> <a class="next" rel="next" href="/praca/?strona=2">Dalej</a>
</body></html>"""
LISTING_2 = """<!DOCTYPE html><html><body>
<h2 class="job"><a href="/praca/1">Spawacz</a></h2>
<h2 class="job"><a href="/praca/4">Lakiernik</a></h2>
<a class="next" href="/praca/?strona=2">Dalej</a>
</body></html>"""


def serve_listing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("")
    httpserver.expect_request("/praca/", query_string="strona=2").respond_with_data(
        LISTING_2, content_type="text/html"
    )
    httpserver.expect_request("/praca/").respond_with_data(
        LISTING_1, content_type="text/html"
    )
    for guid, title in (("1", "Spawacz"), ("4", "Lakiernik")):
        httpserver.expect_request(f"/praca/{guid}").respond_with_data(
            job(guid, title), content_type="text/html"
        )
    httpserver.expect_request(
        "/praca/2", query_string="utm_source=list"
    ).respond_with_data(job("2", "Tokarz"), content_type="text/html")


class LoopbackGet:
    """A GetPage on the test server, without the harvester's robots and page cap."""

    def __init__(self) -> None:
        self.http = make_http()

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        return fetch(self.http, url, accept=accept, policy=LOOPBACK)


def crawl(
    url: str, state: dict[str, Any] | None = None, **options: Any
) -> ParsedDocument:
    get = LoopbackGet()
    return get_connector("jsonld").crawl(  # type: ignore[attr-defined, no-any-return]
        source(url, **options), get(url, accept="text/html"), get, state or {}
    )


@pytest.mark.parametrize(
    "links",
    [{"css": "h2.job a"}, {"xpath": "//h2[@class='job']/a/@href"}],
    ids=["css", "xpath"],
)
def test_a_listing_is_followed_through_its_pages_to_the_details(
    httpserver: HTTPServer, links: dict[str, str]
) -> None:
    serve_listing(httpserver)
    document = crawl(httpserver.url_for("/praca/"), links=links, next={"css": "a.next"})
    assert [(i.guid, i.title) for i in document.items] == [
        ("1", "Spawacz"),
        ("2", "Tokarz"),
        ("4", "Lakiernik"),
    ]
    assert document.complete is True
    assert not any("evil" in r.url for r, _ in httpserver.log)  # other site: not read


def test_a_listing_whose_links_match_nothing_is_an_error(
    httpserver: HTTPServer,
) -> None:
    serve_listing(httpserver)
    with pytest.raises(ParseError) as e:
        crawl(httpserver.url_for("/praca/"), links={"css": "article.offer a"})
    assert "'links' matched nothing" in e.value.message


def test_a_failed_detail_page_is_a_warning_and_the_document_incomplete(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/praca/").respond_with_data(LISTING_1)
    httpserver.expect_request("/praca/1").respond_with_data(job("1", "Spawacz"))
    document = crawl(httpserver.url_for("/praca/"), links={"css": "h2.job a"})
    assert [i.guid for i in document.items] == ["1"]
    assert document.complete is False
    assert (
        "1 pages failed" in document.warnings[0] and "/praca/2" in document.warnings[0]
    )


def test_every_page_failing_is_an_error_of_the_source(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/praca/").respond_with_data(LISTING_2)
    with pytest.raises(ConnectorError) as e:
        crawl(httpserver.url_for("/praca/"), links={"css": "h2.job a"})
    assert e.value.error_class == "http_status"
    assert "every page failed" in e.value.message


def test_pages_without_any_schema_org_item_are_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/o-nas").respond_with_data(
        "<html><body>O nas</body></html>"
    )
    with pytest.raises(ParseError) as e:
        crawl(httpserver.url_for("/o-nas"))
    assert "no schema.org JobPosting" in e.value.message


def test_the_source_page_and_listed_pages_are_read(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/praca/1").respond_with_data(job("1", "Spawacz"))
    httpserver.expect_request("/praca/4").respond_with_data(job("4", "Lakiernik"))
    document = crawl(
        httpserver.url_for("/praca/1"),
        pages=[httpserver.url_for("/praca/4"), "https://elsewhere.example.com/x"],
    )
    assert [i.guid for i in document.items] == ["1", "4"]
    assert document.complete is True
    assert document.warnings == (
        "pages on other sites left out: https://elsewhere.example.com/x",
    )
    assert [r.path for r, _ in httpserver.log].count("/praca/1") == 1  # not twice


def test_a_malformed_block_is_a_warning_and_spoils_no_other(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/targi").respond_with_data(_bytes("broken"))
    document = crawl(httpserver.url_for("/targi"))
    assert [i.title for i in document.items] == ["Targi Metal & Wood 2026"]
    assert document.warnings == (
        f"malformed JSON-LD left out on 1 pages: {httpserver.url_for('/targi')}",
    )


# --- through the harvester ----------------------------------------------------------


def test_a_legacy_listing_is_harvested_into_the_index(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    """Old-style pages in windows-1257 declared in <meta> (no charset header)."""
    listing = (
        "<html><head><meta charset='windows-1257'></head><body>"
        "<a class='d' href='skelbimas.php?id=42'>Suvirintojas</a></body></html>"
    ).encode("cp1257")
    httpserver.expect_request("/robots.txt").respond_with_data("")
    httpserver.expect_request("/skelbimai.php").respond_with_data(
        listing, content_type="text/html"
    )
    httpserver.expect_request("/skelbimas.php").respond_with_data(
        _bytes("legacy-windows-1257"), content_type="text/html"
    )
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"jobs": httpserver.url_for("/skelbimai.php")},
        type_="jsonld",
        options="        links: {css: a.d}\n",
    )
    with sessions() as db:
        index.sync_registry(db, load(path), clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.warning) == ("ok", 1, None)
    with sessions() as db:
        offer = db.scalars(sa.select(Offer)).one()
        organisation = db.get(Organisation, offer.organisation_id)
        assert (offer.guid, offer.title, offer.kind) == (
            "DS-0042",
            "Suvirintojas (-a) – Marijampolė",
            "job-offer",
        )
        assert (offer.country, offer.town, offer.language) == (
            "LT",
            "Marijampolė",
            "lt",
        )
        assert offer.url == httpserver.url_for("/skelbimas.php") + "?id=42"
        assert organisation is not None and organisation.name == "UAB „Šiaurės plienas“"


def test_a_company_page_becomes_an_organisation_profile_not_an_offer(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("")
    httpserver.expect_request("/nariai/baldai").respond_with_data(
        _bytes("company"), content_type="text/html"
    )
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"firm": httpserver.url_for("/nariai/baldai")},
        type_="jsonld",
    )
    with sessions() as db:
        index.sync_registry(db, load(path), clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 1)
    with sessions() as db:
        assert db.scalars(sa.select(Offer)).all() == []
        org = db.scalars(sa.select(Organisation)).one()
        assert (org.name, org.country, org.town) == (
            "UAB Druskininkų baldai",
            "LT",
            "Druskininkai",
        )
        assert org.capabilities == [
            "CNC frezavimas",
            "Baldų gamyba",
            "Medžio apdirbimas",
        ]
