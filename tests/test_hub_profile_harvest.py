"""Feeds in the offer feed profile (feeds/PROFILE.md), Atom and JSON Feed, harvested
into the index with every field: kind, organisation, location, categories by scheme,
validity, language versions, tombstones and completeness."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from helpers import LOOPBACK
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.bounded import ParseLimits
from connectors.http import HttpLimits
from connectors.http import make_http
from feeds.profile import SCHEME_NACE
from feeds.profile import Category
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import Offer as FeedOffer
from feeds.profile import OfferKind
from feeds.profile import Organisation as FeedOrganisation
from feeds.writer import write_atom
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.models import Organisation
from hub.registry import load

PROFILE = Path(__file__).resolve().parent / "data" / "profile"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ORG = "Zakład Ślusarsko-Spawalniczy „Stal-Łoś” Sp. z o.o."


@pytest.mark.parametrize(
    ("document", "source_type"),
    [("example.atom", "atom"), ("example.json", "jsonfeed")],
)
def test_every_profile_field_reaches_the_index(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    document: str,
    source_type: str,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        (PROFILE / document).read_bytes()
    )
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": httpserver.url_for("/feed")},
        type_=source_type,
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    harvester = Harvester(sessions, make_http(), clock=lambda: T0, policy=LOOPBACK)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 4, 0)  # 3 offers, 1 profile
    with sessions() as db:
        offers = {o.guid.rsplit(":", 1)[1]: o for o in db.scalars(sa.select(Offer))}
        orgs = list(db.scalars(sa.select(Organisation).where(Organisation.name == ORG)))
        assert set(offers) == {"offer-17-pl", "offer-17-lt", "job-4"}
        welding, job = offers["offer-17-pl"], offers["job-4"]
        assert (welding.kind, job.kind) == ("business-offer", "job-offer")
        assert (welding.country, welding.town, job.town) == ("PL", "Suwałki", "Ełk")
        assert welding.sectors == ["25.62"] and welding.categories == ["spawanie"]
        assert job.occupations and job.occupations[0].startswith(
            "http://data.europa.eu/esco/occupation/"
        )
        assert welding.valid_through == datetime(2027, 3, 31, 22, 59, tzinfo=UTC)
        assert welding.group_key == offers["offer-17-lt"].group_key is not None
        assert offers["offer-17-lt"].language == "lt"
        assert [o.name for o in orgs] == [ORG]  # one organisation for all three
        assert welding.organisation_id == job.organisation_id == orgs[0].id
        assert "stal-los" in welding.search_text  # the organisation is searchable


def test_offer_page_shows_the_profile_fields(
    httpserver: HTTPServer, tmp_path: Path, db_url: str, engine: sa.Engine
) -> None:
    from lxml import html

    from hub import create_app
    from hub.cli import main

    httpserver.expect_request("/feed").respond_with_data(
        (PROFILE / "example.atom").read_bytes()
    )
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": httpserver.url_for("/feed")},
        type_="atom",
    )
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "ECOOP_REGISTRY": str(registry),
            "ECOOP_FETCH_ALLOW": ("127.0.0.1/32",),
        }
    )
    assert app.test_cli_runner().invoke(main, ["harvest"]).exit_code == 0
    with app.extensions["ecoop.sessions"]() as db:
        welding = db.scalar(sa.select(Offer).where(Offer.guid.endswith("offer-17-pl")))
        assert welding is not None
    doc = html.fromstring(app.test_client().get(f"/en/offers/{welding.id}").data)
    facts = {
        dt.text_content(): dd
        for dt, dd in zip(
            doc.cssselect("dl.facts dt"), doc.cssselect("dl.facts dd"), strict=True
        )
    }
    assert facts["Organisation"].cssselect("strong")[0].text_content() == ORG
    assert "Suwałki" in facts["Country"].text_content()
    assert facts["Valid until"].text_content().strip() == "March 31, 2027"
    assert facts["Sector (NACE)"].text_content() == "25.62 Machining"  # code and label
    [version] = facts["Also in"].cssselect("a")
    assert version.get("hreflang") == "lt" and version.text_content().startswith(
        "Lithuanian: "
    )
    app.extensions["ecoop.engine"].dispose()


def test_ecoop_feed_validate_reports_problems_with_their_place(
    ecoop: Callable[..., Result],
) -> None:
    bad = ecoop("feed", "validate", str(PROFILE / "missing-fields.atom"))
    assert bad.exit_code == 1
    assert "entry[1] <id>: missing id" in bad.output
    good = ecoop("feed", "validate", str(PROFILE / "example.atom"))
    assert good.exit_code == 0 and "valid" in good.output


def test_an_expired_json_feed_withdraws_its_offers(
    httpserver: HTTPServer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    import json

    feed = json.loads((PROFILE / "example.json").read_text(encoding="utf-8"))
    httpserver.expect_oneshot_request("/feed").respond_with_json(feed)
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": httpserver.url_for("/feed")},
        type_="jsonfeed",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    harvester = Harvester(sessions, make_http(), clock=lambda: T0, policy=LOOPBACK)
    harvester.run(due_only=False)
    httpserver.expect_oneshot_request("/feed").respond_with_json(
        {**feed, "expired": True}
    )
    [run] = harvester.run(due_only=False)
    assert run.withdrawn == 4 and "finished" in (run.warning or "")  # and the profile
    with sessions() as db:
        assert set(db.scalars(sa.select(Offer.status))) == {"withdrawn"}


# --- company profiles: organisations, not offers -----------------------------------

FIRM = "Ocynkownia Augustów Sp. z o.o."


def harvest_documents(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    documents: list[bytes],
) -> list[object]:
    """Harvest ``/feed`` once per document, an hour apart; the runs' summaries."""
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": httpserver.url_for("/feed")},
        type_="atom",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    clock = [T0]
    harvester = Harvester(
        sessions, make_http(), clock=lambda: clock[0], policy=LOOPBACK
    )
    summaries = []
    for document in documents:
        httpserver.clear()
        httpserver.expect_request("/feed").respond_with_data(document)
        [run] = harvester.run(due_only=False, force=True)
        summaries.append(run)
        clock[0] += timedelta(hours=1)
    return summaries


def firm_feed(*, profile: bool = True, tombstone: bool = False) -> bytes:
    """A complete feed of one firm's job offer, with or without its company profile
    (or with the profile's tombstone)."""
    org = FeedOrganisation(FIRM, "PL", "Augustów", "https://ocynkownia.example.pl/")
    job = FeedOffer(
        id="tag:metal.example,2026:job-1",
        title="Mechanik utrzymania ruchu",
        link="https://metal.example/praca/1",
        kind=OfferKind.JOB_OFFER,
        published=T0 - timedelta(days=1),
        valid_through=T0 + timedelta(days=30),
        organisation=org,
    )
    firm = FeedOffer(
        id="tag:metal.example,2026:company-3",
        title="Ocynkownia Augustów – cynkowanie ogniowe",
        link="https://metal.example/firmy/3",
        language="pl",
        updated=T0 - timedelta(days=2),
        content_html="<p>Cynkujemy <b>konstrukcje</b>.</p><script>alert(1)</script>",
        organisation=dataclasses.replace(
            org, capabilities=("Cynkowanie ogniowe do 12 m", "Malowanie proszkowe")
        ),
        categories=(Category("25.61", SCHEME_NACE, "Obróbka metali"),),
    )
    info = FeedInfo("Metal", "https://metal.example/", "tag:metal.example,2026:f")
    info = dataclasses.replace(info, complete=True, updated=T0)
    gone = [Deleted(firm.id, T0)] if tombstone else []
    return write_atom(info, [job, firm] if profile else [job], gone)


def firm_row(sessions: sessionmaker[Session]) -> Organisation:
    with sessions() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.name == FIRM))
        assert org is not None
        return org


def test_a_company_profile_describes_its_organisation_and_is_no_offer(
    httpserver: HTTPServer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    [run] = harvest_documents(httpserver, tmp_path, sessions, [firm_feed()])
    assert (run.status, run.new, run.failed) == ("ok", 2, 0)
    with sessions() as db:
        assert [o.title for o in db.scalars(sa.select(Offer))] == [
            "Mechanik utrzymania ruchu"
        ]
        assert db.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 1
    org = firm_row(sessions)
    assert org.capabilities == ["Cynkowanie ogniowe do 12 m", "Malowanie proszkowe"]
    assert org.sectors == ["25.61"]
    assert org.description == "<p>Cynkujemy <b>konstrukcje</b>.</p>"  # sanitised
    assert (org.town, org.website) == ("Augustów", "https://ocynkownia.example.pl/")
    assert org.profile_url == "https://metal.example/firmy/3"
    assert org.profile_language == "pl" and org.has_profile


def test_a_withdrawn_company_profile_leaves_the_organisation_and_its_offers(
    httpserver: HTTPServer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    documents = [
        firm_feed(),
        firm_feed(),  # the same again: unchanged
        firm_feed(profile=False, tombstone=True),  # withdrawn explicitly
        firm_feed(),  # back
        firm_feed(profile=False),  # gone from a complete feed
    ]
    runs = harvest_documents(httpserver, tmp_path, sessions, documents)
    assert [(r.new, r.unchanged, r.withdrawn) for r in runs] == [  # type: ignore[attr-defined]
        (2, 0, 0),
        (0, 2, 0),
        (0, 1, 1),
        (0, 1, 0),
        (0, 1, 1),
    ]
    org = firm_row(sessions)
    assert not org.has_profile and org.profile_withdrawn_at == T0 + timedelta(hours=4)
    assert org.capabilities  # kept, as offers keep their history
    with sessions() as db:
        job = db.scalar(sa.select(Offer))
        assert job is not None
        assert (job.status, job.organisation_id) == ("active", org.id)


# --- a big profile feed --------------------------------------------------------------


def big_profile_feed(entries: int) -> bytes:
    """A complete Atom profile feed of ``entries`` job offers (~1.8 kB each, as a
    member's listing is), written by feeds.writer once and its entry repeated."""
    job = FeedOffer(
        id="tag:metal.example,2026:job-N",
        title="Operator centrum obróbczego CNC – zmiana nocna",
        link="https://metal.example/praca/N",
        kind=OfferKind.JOB_OFFER,
        published=T0 - timedelta(days=1),
        valid_through=T0 + timedelta(days=30),
        organisation=FeedOrganisation(FIRM, "PL", "Augustów"),
        content_html="<p>" + "Obróbka skrawaniem, frezowanie i toczenie. " * 30,
    )
    info = FeedInfo("Metal", "https://metal.example/", "tag:metal.example,2026:f")
    document = write_atom(dataclasses.replace(info, complete=True, updated=T0), [job])
    head, rest = document.split(b"<entry", 1)
    entry, tail = rest.rsplit(b"</entry>", 1)
    return b"".join(
        [
            head,
            *(
                b"<entry" + entry.replace(b"-N", b"-%d" % i) + b"</entry>"
                for i in range(entries)
            ),
            tail,
        ]
    )


def test_a_big_profile_feed_is_read_entry_by_entry_within_the_memory_cap(
    httpserver: HTTPServer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """20,000 entries (37 MB) under a 160 MB cap: the whole document's tree and
    offers needed more, and a member publishing the profile could not be harvested
    without paging its listing."""
    document = big_profile_feed(20_000)
    httpserver.expect_request("/feed").respond_with_data(document)
    registry = write_registry(
        tmp_path / "clusters.yaml", {"offers": httpserver.url_for("/feed")}
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    harvester = Harvester(
        sessions,
        make_http(),
        clock=lambda: T0,
        policy=LOOPBACK,
        limits=HttpLimits(max_bytes=64 * 1024 * 1024),
        parse_limits=ParseLimits(timeout=60, max_memory=160 * 1024 * 1024),
    )
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 20_000, 0), run.error
    with sessions() as db:
        assert (
            db.scalar(sa.select(sa.func.count()).where(Offer.organisation_name == FIRM))
            == 20_000
        )
