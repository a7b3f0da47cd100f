"""The html connector: legacy listings read with an XPath/CSS map, pagination, detail
pages, legacy charsets, local dates; a map that matches nothing is an error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import connectors
from connectors.base import FetchError
from connectors.base import FetchResult
from connectors.base import PageCapReached
from connectors.base import ParseError
from connectors.base import Source
from connectors.local_dates import parse_date
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.registry import RegistryError
from hub.registry import load

DATA = Path(__file__).resolve().parent / "data" / "html"
LT_LETTERS = set("ąčęėįšųūž")

LT_MAP = """\
        items: {css: "table.skelbimai tr:has(td)"}
        fields:
          title: {css: td.pav a}
          link: {css: td.pav a}
          date: {css: td.data}
          category: {css: span.kat}
          town: {css: td.miestas}
        next: {css: a.kitas}
"""
LT_DETAIL = """\
        detail:
          valid_through: {css: td.iki}
          body: {css: div.tekstas}
"""
PL_MAP = """\
        items: {xpath: "//table[@class='lista']//tr[@class='oferta']"}
        fields:
          title: {xpath: ".//b/a"}
          link: {xpath: ".//b/a/@href"}
          date: {css: small, regex: "dodano:\\\\s*(.*)"}
          town: {css: i}
          category: {xpath: "string(./td)", regex: "·\\\\s*(\\\\w+)\\\\s*$"}
        next: {xpath: "//a[contains(., 'następna')]"}
        date_format: "%d %B %Y"
        rules:
          - when: {category: Praca}
            kind: job-offer
          - when: {category: Zapytania}
            kind: business-request
"""


def _source(tmp_path: Path, url: str, options: str) -> Source:
    [source] = load(
        write_registry(
            tmp_path / "clusters.yaml", {"site": url}, type_="html", options=options
        )
    ).sources
    return source


def _result(url: str, name: str, content_type: str = "text/html") -> FetchResult:
    body = (DATA / name).read_bytes()
    return FetchResult(url, 200, {"Content-Type": content_type}, body)


class _Pages:
    """A ``GetPage`` over fixture files, recording what was asked."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages, self.asked = pages, []

    def __call__(self, url: str, *, accept: str) -> FetchResult:
        self.asked.append(url)
        if url not in self.pages:
            raise FetchError(url, "HTTP 404", "http_status", status=404)
        return _result(url, self.pages[url])


def _crawl(source: Source, first: FetchResult, get: _Pages):
    return connectors.get_connector("html").crawl(source, first, get, {})  # type: ignore[attr-defined]


LT = "http://lt.example/firma/skelbimai.php"


def test_windows_1257_listing_is_read_across_pages_with_lithuanian_letters(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, LT, LT_MAP)
    pages = _Pages({f"{LT}?psl=2": "lt-page2.html"})
    # The header says UTF-8, as misconfigured old servers do: the meta charset wins.
    doc = _crawl(
        source, _result(LT, "lt-page1.html", "text/html; charset=utf-8"), pages
    )
    assert pages.asked == [f"{LT}?psl=2"]  # page 2 links back to page 1: not followed
    assert [i.title for i in doc.items] == [
        "Ąžuolo laiptų gamyba",  # whitespace inside the link normalised
        "Medinės žaliuzės – gamyba & montavimas",  # entities decoded
        "Oak panels for export",
        "Sausos pušies lentos, 50×150",
    ]
    assert doc.skipped == 1  # the row without a title
    assert doc.items[1].categories == ("Užklausa",)
    first, _, oak, last = doc.items
    assert first.link == "http://lt.example/firma/skelbimai/azuolo-laiptai.html"
    assert oak.link == "http://lt.example/firma/skelbimai/oak-panels.html"
    assert first.published == datetime(2026, 11, 12, tzinfo=UTC)
    assert first.categories == ("Pasiūlymas",)
    assert first.location is not None and first.location.town == "Alytus"
    assert last.location is not None and last.location.town == "Šiauliai"
    assert (first.language, oak.language) == ("lt", "en")  # the row's own lang
    assert first.guid is None  # the hub keys the item by its normalised link
    assert doc.warnings == () and doc.complete is None


def test_iso_8859_2_listing_with_polish_dates_base_href_and_missing_dates(
    tmp_path: Path,
) -> None:
    url = "http://stara-firma.example/oferty/lista.php"
    source = _source(tmp_path, url, PL_MAP)
    pages = _Pages({f"{url}?strona=2": "pl-page2.html"})
    doc = _crawl(source, _result(url, "pl-page1.html"), pages)
    items = {i.title: i for i in doc.items}
    assert list(items) == [
        "Cięcie laserowe blach do 25 mm",
        'Powder coating "on demand"',
        "Spawacz MIG/MAG – praca od zaraz",
        "Zapytanie: zrobotyzowane stanowisko spawalnicze",
    ]
    laser = items["Cięcie laserowe blach do 25 mm"]
    assert laser.published == datetime(2026, 11, 12, tzinfo=UTC)
    assert laser.link == "http://stara-firma.example/oferty/oferta.php?id=12"
    assert laser.location is not None and laser.location.town == "Ełk"
    assert laser.categories == ("Usługi",)
    coating = items['Powder coating "on demand"']
    assert coating.published is None  # "dodano:" with no date
    assert coating.link == "http://stara-firma.example/oferty/oferta.php?id=11&lang=en"
    welder = items["Spawacz MIG/MAG – praca od zaraz"]
    assert welder.link == "http://stara-firma.example/praca/spawacz.html"
    assert welder.published == datetime(2026, 11, 3, tzinfo=UTC)  # "3 lis 2026"
    late = items["Zapytanie: zrobotyzowane stanowisko spawalnicze"]
    assert late.published == datetime(2026, 10, 28, tzinfo=UTC)
    assert late.location is not None and late.location.town == "Łomża"


def test_detail_pages_fill_fields_and_a_failed_one_loses_only_its_details(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, LT, LT_MAP + LT_DETAIL)
    detail = "http://lt.example/firma/skelbimai/azuolo-laiptai.html"
    pages = _Pages({f"{LT}?psl=2": "lt-page2.html", detail: "lt-detail.html"})
    doc = _crawl(source, _result(LT, "lt-page1.html"), pages)
    assert len(doc.items) == 4  # every offer kept, with or without its details
    stairs = doc.items[0]
    assert stairs.valid_through == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)
    assert stairs.content is not None and "„kokybė“" in stairs.content
    assert "<b>ilga patirtis</b>" in stairs.content
    assert doc.items[1].content is None and doc.items[1].valid_through is None
    [warning] = doc.warnings
    assert warning.startswith("detail pages failed: ")
    assert "zaliuzes.html: HTTP 404" in warning and "and" not in warning.split(";")[0]
    assert doc.complete is False


def test_the_page_cap_keeps_the_listing_and_says_what_was_not_read(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, LT, LT_MAP + LT_DETAIL)
    fetched: list[str] = []

    def get(url: str, *, accept: str) -> FetchResult:
        if fetched:
            raise PageCapReached(url, "page cap of 1 pages reached")
        fetched.append(url)
        return _result(url, "lt-page2.html")

    doc = connectors.get_connector("html").crawl(  # type: ignore[attr-defined]
        source, _result(LT, "lt-page1.html"), get, {}
    )
    assert len(doc.items) == 4
    assert doc.warnings == (
        "page cap reached: 4 detail pages not read, their offers have the "
        "listing's fields only",
    )


def test_a_listing_that_matches_nothing_is_a_parse_error_naming_the_expression(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, LT, LT_MAP)
    with pytest.raises(ParseError) as info:
        _crawl(source, _result(LT, "pl-redesign.html"), _Pages({}))
    assert info.value.error_class == "parse"
    assert "items: css: table.skelbimai tr:has(td) matched nothing" in str(info.value)


def test_a_field_that_matches_in_no_item_is_a_parse_error(tmp_path: Path) -> None:
    source = _source(
        tmp_path, LT, LT_MAP.replace("{css: td.data}", "{css: td.published}")
    )
    with pytest.raises(ParseError) as info:
        _crawl(source, _result(LT, "lt-page1.html"), _Pages({}))
    assert "fields.date: css: td.published matched nothing in 3 items" in str(
        info.value
    )


def test_a_later_page_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    source = _source(tmp_path, LT, LT_MAP)
    pages = _Pages({f"{LT}?psl=2": "pl-redesign.html"})
    doc = _crawl(source, _result(LT, "lt-page1.html"), pages)
    assert len(doc.items) == 2
    assert doc.warnings == (
        f"page 2 ({LT}?psl=2): items: css: table.skelbimai tr:has(td) matched nothing",
    )
    assert doc.complete is False


def test_an_offer_that_moved_to_the_next_page_while_paging_counts_once(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, LT, LT_MAP)
    pages = _Pages({f"{LT}?psl=2": "lt-page1.html"})  # page 2 repeats page 1
    doc = _crawl(source, _result(LT, "lt-page1.html"), pages)
    assert [i.title for i in doc.items] == [
        "Ąžuolo laiptų gamyba",
        "Medinės žaliuzės – gamyba & montavimas",
    ]


def test_a_feed_given_as_html_source_says_which_type_to_use(tmp_path: Path) -> None:
    source = _source(tmp_path, LT, LT_MAP)
    feed = FetchResult(LT, 200, {}, b'<?xml version="1.0"?><rss version="2.0"/>')
    with pytest.raises(ParseError, match="use type: rss"):
        _crawl(source, feed, _Pages({}))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            LT_MAP.replace("{css: td.data}", "{css: 'td..data'}"),
            ":17: clusters[0].sources[0].fields.date: bad CSS selector",
        ),
        (
            LT_MAP.replace("{css: td.data}", '{xpath: "./td[@class="}'),
            ":17: clusters[0].sources[0].fields.date: bad XPath",
        ),
        (
            LT_MAP.replace("{css: td.data}", "{css: td.data, xpath: ./td}"),
            ":17: clusters[0].sources[0].fields.date: give exactly one of",
        ),
        (
            LT_MAP.replace("{css: td.data}", "td.data"),
            ":17: clusters[0].sources[0].fields.date: expected an expression",
        ),
        (
            LT_MAP.replace("          date:", "          published:"),
            ":17: clusters[0].sources[0].fields.published",
        ),
        (
            LT_MAP.replace("          title: {css: td.pav a}\n", ""),
            ":15: clusters[0].sources[0].fields: map 'title'",
        ),
        (
            LT_MAP.replace("{css: td.data}", "{css: td.data, regex: '(['}"),
            ":17: clusters[0].sources[0].fields.date: bad regex",
        ),
    ],
)
def test_a_bad_map_is_refused_at_load_with_file_line_and_field(
    tmp_path: Path, options: str, expected: str
) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml", {"site": LT}, type_="html", options=options
    )
    with pytest.raises(RegistryError) as info:
        load(path)
    assert any(p.startswith(f"{path}{expected}") for p in info.value.problems), (
        info.value.problems
    )


@pytest.mark.parametrize(
    ("text", "date_format", "expected"),
    [
        ("12 listopada 2026", None, datetime(2026, 11, 12, tzinfo=UTC)),
        ("2026 m. lapkričio 12 d.", None, datetime(2026, 11, 12, tzinfo=UTC)),
        ("Paskelbta: 2026-11-12", None, datetime(2026, 11, 12, tzinfo=UTC)),
        ("12.11.2026 14:30", None, datetime(2026, 11, 12, 14, 30, tzinfo=UTC)),
        ("1 stycznia 2027", "%d %B %Y", datetime(2027, 1, 1, tzinfo=UTC)),
        ("11/12/26", "%m/%d/%y", datetime(2026, 11, 12, tzinfo=UTC)),
        ("2026-11-12T10:00:00+02:00", None, datetime(2026, 11, 12, 8, tzinfo=UTC)),
        ("wkrótce", None, None),
        ("31.02.2026", None, None),
    ],
)
def test_local_dates(
    text: str, date_format: str | None, expected: datetime | None
) -> None:
    assert parse_date(text, date_format) == expected


def test_a_valid_through_date_includes_its_day() -> None:
    end = parse_date("2027 m. sausio 31 d.", end_of_day=True)
    assert end == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


# --- through the harvester, on a loopback server -------------------------------------


def _serve(httpserver: HTTPServer, listing: str) -> None:
    httpserver.clear()
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /firma/skelbimai/zaliuzes.html\n"
    )
    page = "/firma/skelbimai.php"
    wrong_header = "text/html; charset=utf-8"
    for name, query in (("lt-page2.html", "psl=2"), (listing, None)):
        httpserver.expect_request(page, query_string=query).respond_with_data(
            (DATA / name).read_bytes(), content_type=wrong_header
        )
    httpserver.expect_request("/firma/skelbimai/azuolo-laiptai.html").respond_with_data(
        (DATA / "lt-detail.html").read_bytes(), content_type="text/html"
    )


def test_harvest_of_a_legacy_site_then_a_layout_change_keeps_the_offers(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"legacy": httpserver.url_for("/firma/skelbimai.php")},
        type_="html",
        options=LT_MAP + LT_DETAIL + "        defaults: {country: LT}\n",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    _serve(httpserver, "lt-page1.html")
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 4, 1)
    assert run.warning is not None and "zaliuzes.html" in run.warning  # robots.txt
    fetched = [r.path for r, _ in httpserver.log]
    assert "/firma/skelbimai/zaliuzes.html" not in fetched
    with sessions() as db:
        stored = {o.title: o for o in db.scalars(sa.select(Offer))}
    stairs = stored["Ąžuolo laiptų gamyba"]
    assert stairs.url == httpserver.url_for("/firma/skelbimai/azuolo-laiptai.html")
    assert stairs.valid_through is not None
    assert stairs.valid_through.replace(tzinfo=UTC) == datetime(
        2027, 1, 31, 23, 59, 59, tzinfo=UTC
    )
    assert "alert" not in stairs.body_html and "ilga patirtis" in stairs.body_text
    assert (stairs.country, stairs.town) == ("LT", "Alytus")
    assert stored["Sausos pušies lentos, 50×150"].town == "Šiauliai"

    clock.now += timedelta(hours=2)
    _serve(httpserver, "pl-redesign.html")
    [changed] = harvester.run(due_only=False)
    assert (changed.status, changed.error_class) == ("error", "parse")
    assert changed.error is not None
    assert "items: css: table.skelbimai tr:has(td) matched nothing" in changed.error
    with sessions() as db:
        statuses = db.execute(sa.select(Offer.title, Offer.status)).all()
    assert len(statuses) == 4 and {s for _, s in statuses} == {"active"}


def test_demo_harvest_of_the_firm_site_without_a_feed(
    app: Flask, ecoop: Callable[..., Result]
) -> None:
    result = ecoop("harvest", "--source", "medienospartneriai/dzukijos-baldai")
    assert result.exit_code == 0, result.output
    with app.extensions["ecoop.sessions"]() as db:
        offers = {o.title: o for o in db.scalars(sa.select(Offer))}
    assert len(offers) == 7
    assert LT_LETTERS <= set(
        "".join(offers) + "".join(o.body_text for o in offers.values())
    )
    stairs = offers["Ąžuolo laiptų gamyba pagal užsakymą"]
    assert (stairs.kind, stairs.language, stairs.town) == (
        "business-offer",
        "lt",
        "Alytus",
    )
    assert "2 400 €" in stairs.body_text.replace("\xa0", " ")
    kinds = {o.kind for o in offers.values()}
    assert kinds == {"business-offer", "business-request", "technology-offer", "event"}
    oak = offers["Solid oak table tops for export partners"]
    assert oak.language == "en" and oak.country == "LT"

    # The same site's job pages, read by their JSON-LD (type: jsonld).
    result = ecoop("harvest", "--source", "medienospartneriai/dzukijos-baldai-darbas")
    assert result.exit_code == 0, result.output
    with app.extensions["ecoop.sessions"]() as db:
        jobs = dict(
            db.execute(
                sa.select(Offer.title, Offer.kind).where(Offer.kind == "job-offer")
            ).all()
        )
    assert jobs == {
        "Baldžių surinkėjas (-a)": "job-offer",
        "CNC staklių operatorius (-ė)": "job-offer",
    }
