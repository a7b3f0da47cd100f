"""Harvest runs into SQLite and PostgreSQL from loopback member sites."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from feeds.samples import SampleSites
from feeds.samples import is_live
from feeds.samples import sample_firms
from feeds.samples import sample_offers
from hub import index
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Organisation
from hub.models import Source
from hub.registry import load

DATA = Path(__file__).resolve().parent / "data"
RSS = (DATA / "rss" / "basic.xml").read_bytes()
ATOM = (DATA / "atom" / "basic.atom").read_bytes()


def setup_registry(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    urls: dict[str, str],
    clock: Clock,
) -> None:
    registry = load(write_registry(tmp_path / "clusters.yaml", urls))
    with sessions() as db:
        index.sync_registry(db, registry, clock())


def offers(sessions: sessionmaker[Session]) -> list[Offer]:
    with sessions() as db:
        return list(db.scalars(sa.select(Offer).order_by(Offer.guid)))


def runs(sessions: sessionmaker[Session]) -> list[HarvestRun]:
    with sessions() as db:
        return list(db.scalars(sa.select(HarvestRun).order_by(HarvestRun.id)))


def test_harvest_fills_the_index_from_both_sample_sites(
    harvested_app: Flask, sample_sites: SampleSites
) -> None:
    now = sample_sites.clock()
    with harvested_app.extensions["ecoop.sessions"]() as db:
        for slug, published in sample_offers(now).items():
            stored = {
                o.guid: o
                for o in db.scalars(
                    sa.select(Offer).join(Source).where(Source.key == f"{slug}/offers")
                )
            }
            assert set(stored) == {o.id for o in published}
            for offer in published:
                row = stored[offer.id]
                assert row.kind == offer.kind and row.language == offer.language
                assert row.status == ("active" if is_live(offer, now) else "expired")
        for slug, firms in sample_firms(now).items():
            profiled = db.scalars(
                sa.select(Organisation.name)
                .join(Source, Organisation.profile_source_id == Source.id)
                .where(Source.key == f"{slug}/companies")
            )
            assert set(profiled) == {
                f.organisation.name for f in firms if f.organisation
            }
            # company profiles are organisations, never offers
            assert not db.scalar(
                sa.select(sa.func.count())
                .select_from(Offer)
                .join(Source)
                .where(Source.key == f"{slug}/companies")
            )
        languages = set(db.scalars(sa.select(Offer.language)))
    assert {"pl", "lt", "en"} <= languages


def test_harvest_command_prints_a_summary_per_source(
    ecoop: Callable[..., Result], demo_registry: Path, sample_sites: SampleSites
) -> None:
    result = ecoop("harvest")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # (progress goes to stderr)
    assert lines[0].split() == [
        "source",
        "status",
        "new",
        "updated",
        "unchanged",
        "withdrawn",
        "failed",
        "error",
        "/",
        "warning",
    ]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert set(rows) == {source.key for source in load(demo_registry).sources}
    now = sample_sites.clock()
    for slug, published in sample_offers(now).items():
        assert rows[f"{slug}/offers"] == ["ok", str(len(published))]
    for slug, firms in sample_firms(now).items():
        assert rows[f"{slug}/companies"] == ["ok", str(len(firms))]
    again = ecoop("harvest", "--cluster", "metalklaster")
    assert again.exit_code == 0
    assert {tuple(line.split()[:2]) for line in again.stdout.splitlines()[1:]} == {
        ("metalklaster/companies", "not_modified"),
        ("metalklaster/offers", "not_modified"),
    }


def test_a_second_harvest_of_the_same_feed_adds_nothing(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    [first] = harvester.run(due_only=False)
    assert (first.status, first.new) == ("ok", 2)
    before = [(o.id, o.content_hash, o.first_seen_at) for o in offers(sessions)]
    clock.now += timedelta(hours=1)
    [second] = harvester.run(due_only=False)  # the very same bytes: not even parsed
    assert (second.status, second.new, second.updated) == ("unchanged", 0, 0)
    clock.now += timedelta(hours=1)
    [forced] = harvester.run(due_only=False, force=True)
    assert (forced.status, forced.new, forced.updated, forced.unchanged) == (
        "ok",
        0,
        0,
        2,
    )
    assert [(o.id, o.content_hash, o.first_seen_at) for o in offers(sessions)] == before
    assert all(o.last_seen_at == clock.now for o in offers(sessions))


def test_volatile_changes_count_as_unchanged(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_oneshot_request("/feed").respond_with_data(RSS)
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    harvester.run(due_only=False)
    restamped = RSS.replace(
        b"Tue, 03 Nov 2026 09:30:00 +0100", b"Wed, 04 Nov 2026 11:00:00 +0100"
    ).replace(
        b"oferty/obrobka-cnc/</link>", b"oferty/obrobka-cnc/?utm_source=rss</link>"
    )
    assert restamped != RSS
    httpserver.expect_oneshot_request("/feed").respond_with_data(restamped)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.updated, run.unchanged) == ("ok", 0, 0, 2)


def test_a_304_writes_no_offers(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": '"abc"'}
    ).respond_with_data("", status=304)
    httpserver.expect_request("/feed").respond_with_data(
        RSS, content_type="application/rss+xml", headers={"ETag": '"abc"'}
    )
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    harvester.run(due_only=False)
    before = [(o.id, o.last_seen_at, o.content_hash) for o in offers(sessions)]
    clock.now += timedelta(hours=1)
    [second] = harvester.run(due_only=False)
    assert second.status == "not_modified"
    assert [(o.id, o.last_seen_at, o.content_hash) for o in offers(sessions)] == before
    assert [r.status for r in runs(sessions)] == ["ok", "not_modified"]
    assert runs(sessions)[1].http_status == 304


def test_a_changed_item_is_updated_in_place(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_oneshot_request("/feed").respond_with_data(RSS)
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    harvester.run(due_only=False)
    changed = RSS.replace(
        "Spawacz MIG/MAG – Ełk".encode(), "Spawacz TIG – Ełk".encode()
    )
    httpserver.expect_oneshot_request("/feed").respond_with_data(changed)
    [run] = harvester.run(due_only=False)
    assert (run.new, run.updated, run.unchanged) == (0, 1, 1)
    titles = sorted(o.title for o in offers(sessions))
    assert titles == ["Spawacz TIG – Ełk", "Usługi obróbki CNC – toczenie i frezowanie"]


def test_a_broken_source_keeps_its_offers_and_does_not_stop_the_others(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_oneshot_request("/a").respond_with_data(RSS)
    httpserver.expect_request("/b").respond_with_data(ATOM)
    setup_registry(
        tmp_path,
        sessions,
        {"a": httpserver.url_for("/a"), "b": httpserver.url_for("/b")},
        clock,
    )
    harvester.run(due_only=False)
    httpserver.expect_request("/a").respond_with_data(
        "<html>maintenance</html>", status=500
    )
    clock.now += timedelta(hours=1)
    summaries = {s.source: s for s in harvester.run(due_only=False)}
    assert summaries["metal/a"].status == "error"
    assert summaries["metal/a"].error == "HTTP 500"
    assert summaries["metal/b"].status == "unchanged"
    assert len(offers(sessions)) == 4
    assert all(o.status == "active" for o in offers(sessions))
    with sessions() as db:
        source = db.scalar(sa.select(Source).where(Source.key == "metal/a"))
        assert source is not None
        assert (source.consecutive_errors, source.last_error) == (1, "HTTP 500")
        assert source.next_check_at == clock.now + timedelta(hours=2)  # backed off
        assert source.lease_until is None


def test_an_unparseable_document_is_an_error_not_zero_offers(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "<html><body>Log in</body></html>", content_type="text/html"
    )
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.error_class) == ("error", "not_a_feed")
    assert run.error == "an HTML page, not a feed"


def test_the_scheduler_tick_harvests_only_due_sources(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    assert [s.status for s in harvester.tick()] == ["ok"]  # new sources are due at once
    clock.now += timedelta(minutes=59)
    assert harvester.tick() == []
    clock.now += timedelta(minutes=1)
    assert [s.status for s in harvester.tick()] == ["unchanged"]


def test_script_in_a_feed_is_sanitised_before_the_index(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)  # content has <script>
    setup_registry(tmp_path, sessions, {"offers": httpserver.url_for("/feed")}, clock)
    harvester.run(due_only=False)
    cnc = next(o for o in offers(sessions) if "CNC" in o.title)
    assert cnc.body_html == "<p>Wolne moce <strong>przerobowe</strong> w Łomży.</p>"
    assert "alert" not in cnc.body_text


def test_a_nul_in_an_item_is_dropped_not_the_sources_harvest(
    harvester: Harvester,
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    tmp_path: Path,
    clock: Clock,
) -> None:
    """JSON may escape NUL (\\u0000) into any string; PostgreSQL's text cannot hold
    one, and the whole harvest of the source failed there ("internal error:
    DataError: PostgreSQL text fields cannot contain NUL")."""
    nul = "\u0000"
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Oferty",
        "items": [
            {
                "id": f"o{nul}1",
                "url": "https://m.example/o/1",
                "title": f"Gięcie{nul} blach",
                "content_text": f"Prasa{nul} krawędziowa",
                "tags": [f"CNC{nul}"],
                "_ecoop": {"organisation": {"name": f"Metal{nul}-Tech"}},
            },
            {"id": "o2", "url": "https://m.example/o/2", "title": "Spawanie"},
        ],
    }
    httpserver.expect_request("/feed").respond_with_data(
        json.dumps(feed), content_type="application/feed+json"
    )
    url = httpserver.url_for("/feed")
    registry = load(write_registry(tmp_path / "c.yaml", {"a": url}, type_="jsonfeed"))
    with sessions() as db:
        index.sync_registry(db, registry, clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 2)
    with sessions() as db:
        rows = db.execute(
            sa.select(Offer.guid, Offer.title, Offer.categories).order_by(Offer.guid)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("o1", "Gięcie blach", ["CNC"]),
            ("o2", "Spawanie", []),
        ]
        assert db.scalar(sa.select(Organisation.name)) == "Metal-Tech"
