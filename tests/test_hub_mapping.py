"""Mapping rules of any source type: ``defaults:`` and ``rules:`` (category, URL or
title -> kind, first match wins), with ``kind`` / ``kind_by_category`` as short forms;
validated at load with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import T0
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.base import RawItem
from connectors.base import Source
from feeds.profile import Location
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.normalize import to_offer
from hub.registry import RegistryError
from hub.registry import load

RULES = """\
        kind: business-offer
        kind_by_category:
          Oferty pracy: job-offer
        rules:
          - when: {url: "/wydarzenia/"}
            kind: event
          - when: {title: "^zapytanie\\\\b"}
            kind: business-request
          - when: {category: Szukam pracy}
            kind: job-seeking
        defaults:
          language: pl
          country: PL
          town: Suwałki
          categories: [Metal]
"""


def _source(tmp_path: Path, options: str = RULES, url: str = "https://x.pl/") -> Source:
    path = write_registry(tmp_path / "clusters.yaml", {"feed": url}, options=options)
    [source] = load(path).sources
    return source


def _kind(source: Source, **fields: object) -> str:
    item = RawItem(**{"guid": "1", "link": None, "title": "Oferta", **fields})  # type: ignore[arg-type]
    return to_offer(source, "1", item, T0).kind.value


def test_rules_give_kinds_by_url_title_and_category_first_match_first(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path)
    assert _kind(source, link="https://x.pl/wydarzenia/targi-2026") == "event"
    assert _kind(source, title="Zapytanie ofertowe: laser") == "business-request"
    assert _kind(source, categories=("szukam PRACY",)) == "job-seeking"
    # kind_by_category is the short form of a category rule, after the rules:
    assert _kind(source, categories=("Oferty pracy",)) == "job-offer"
    assert (
        _kind(
            source,
            link="https://x.pl/wydarzenia/dzien-otwarty",
            categories=("Szukam pracy",),
        )
        == "event"
    )
    assert _kind(source, title="Cięcie laserowe") == "business-offer"  # `kind:`
    # What the document itself declares (the offer feed profile) is not overridden.
    assert _kind(source, title="Zapytanie", kind="technology-offer") == (
        "technology-offer"
    )


def test_defaults_fill_only_what_the_item_does_not_say(tmp_path: Path) -> None:
    source = _source(tmp_path)
    bare = to_offer(source, "1", RawItem(guid="1", link=None, title="Oferta"), T0)
    assert (bare.language, bare.country, bare.town) == ("pl", "PL", "Suwałki")
    assert bare.categories == ("Metal",)
    own = to_offer(
        source,
        "2",
        RawItem(
            guid="2",
            link=None,
            title="Pasiūlymas",
            language="lt",
            categories=("Mediena",),
            location=Location(country="LT", town="Alytus"),
        ),
        T0,
    )
    assert (own.language, own.country, own.town) == ("lt", "LT", "Alytus")
    assert own.categories == ("Mediena",)


def test_defaults_kind_is_the_default_kind(tmp_path: Path) -> None:
    source = _source(tmp_path, "        defaults: {kind: job-offer}\n")
    assert _kind(source) == "job-offer"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            RULES.replace('"/wydarzenia/"', '"/wydarzenia/("'),
            ":17: clusters[0].sources[0].rules[0].when.url: bad regex "
            "'/wydarzenia/(': missing ), unterminated subpattern",
        ),
        (
            RULES.replace("kind: event", "kind: events"),
            ":18: clusters[0].sources[0].rules[0].kind: unknown kind 'events'",
        ),
        (
            RULES.replace('{url: "/wydarzenia/"}', '{url: "/w/", title: "x"}'),
            ":17: clusters[0].sources[0].rules[0].when: give exactly one",
        ),
        (
            RULES.replace("language: pl", "language: pl\n          kind: event"),
            ":9: clusters[0].sources[0]: 'kind' and 'defaults.kind' both",
        ),
        (
            RULES.replace("country: PL", "country: Polska"),
            ":25: clusters[0].sources[0].defaults.country: String should match",
        ),
    ],
)
def test_bad_rules_are_refused_with_file_line_and_field(
    tmp_path: Path, options: str, expected: str
) -> None:
    path = write_registry(
        tmp_path / "clusters.yaml", {"feed": "https://x.pl/"}, options=options
    )
    with pytest.raises(RegistryError) as info:
        load(path)
    assert any(p.startswith(f"{path}{expected}") for p in info.value.problems), (
        info.value.problems
    )


WORDPRESS_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Klaster</title><link>https://klaster.example/</link>
<item><title>Targi Metal 2026</title>
  <link>https://klaster.example/wydarzenia/targi-metal-2026/</link>
  <guid isPermaLink="false">https://klaster.example/?p=101</guid>
  <category><![CDATA[Aktualności]]></category></item>
<item><title>Zapytanie ofertowe: gięcie blach</title>
  <link>https://klaster.example/2026/11/zapytanie-giecie/</link>
  <guid isPermaLink="false">https://klaster.example/?p=102</guid>
  <category><![CDATA[Aktualności]]></category></item>
<item><title>Spawacz MIG/MAG</title>
  <link>https://klaster.example/2026/11/spawacz/</link>
  <guid isPermaLink="false">https://klaster.example/?p=103</guid>
  <category><![CDATA[Oferty pracy]]></category></item>
<item><title>Frezowanie CNC</title>
  <link>https://klaster.example/2026/11/frezowanie/</link>
  <guid isPermaLink="false">https://klaster.example/?p=104</guid></item>
</channel></rss>
"""


def test_rules_apply_to_an_rss_harvest(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/feed/").respond_with_data(
        WORDPRESS_RSS, content_type="application/rss+xml"
    )
    path = write_registry(
        tmp_path / "clusters.yaml",
        {"feed": httpserver.url_for("/feed/")},
        options=RULES,
    )
    with sessions() as db:
        index.sync_registry(db, load(path), clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 4)
    with sessions() as db:
        rows = db.execute(sa.select(Offer.title, Offer.kind, Offer.town)).all()
    assert {title: kind for title, kind, _ in rows} == {
        "Targi Metal 2026": "event",
        "Zapytanie ofertowe: gięcie blach": "business-request",
        "Spawacz MIG/MAG": "job-offer",
        "Frezowanie CNC": "business-offer",
    }
    assert {town for _, _, town in rows} == {"Suwałki"}
