"""Big feeds go to the index in batches: prepared in the parsing child, spooled,
written batch by batch, with the same counts and withdrawals as one whole list."""

from __future__ import annotations

import json
import pickle
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from werkzeug import Response

from connectors.base import FetchResult
from feeds import reader
from hub import harvest
from hub import index
from hub import prepared
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.prepared import Batch
from hub.prepared import Spool
from hub.registry import load


def rss(guids: list[str], relative: int = -1, next_page: str = "") -> bytes:
    """A feed of items with these ids; the one at ``relative`` links relatively,
    which the fast reader leaves to feedparser (connectors.syndication); a page of
    a paged feed if ``next_page`` (RFC 5005)."""
    items = "".join(
        f"<item><title>{escape(f'Offer {n}: {guid}')}</title>"
        f"<link>{'' if n == relative else 'https://metal.example'}/o/{n}</link>"
        f"<guid isPermaLink='false'>{escape(guid)}</guid>"
        "<description>&lt;p&gt;Obróbka CNC&lt;/p&gt;</description></item>"
        for n, guid in enumerate(guids)
    )
    link = f"<atom:link rel='next' href='{next_page}'/>" if next_page else ""
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        "xmlns:atom='http://www.w3.org/2005/Atom'><channel>"
        f"<title>Metal</title><link>https://metal.example/</link>{link}{items}"
        "</channel></rss>"
    ).encode()


def serve_one(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
    body: bytes,
) -> None:
    """``body`` served as the feed of the index's one source."""
    httpserver.expect_request("/feed").respond_with_data(
        body, content_type="application/rss+xml"
    )
    registry = write_registry(
        tmp_path / "clusters.yaml", {"offers": httpserver.url_for("/feed")}
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())


@pytest.fixture
def retracted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many batches each ``Spool.retract`` of the test took back."""
    counts: list[int] = []
    retract = Spool.retract

    def counted(spool: Spool, count: int) -> None:
        counts.append(count)
        retract(spool, count)

    monkeypatch.setattr(Spool, "retract", counted)
    return counts


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 7 items, spooled to disk past 1 kB: many of both in a small feed."""
    monkeypatch.setattr(prepared, "BATCH_SIZE", 7)
    monkeypatch.setattr(prepared, "SPOOL_MEMORY", 1024)


@pytest.mark.usefixtures("small_batches")
def test_a_feed_of_many_batches_is_written_whole_and_withdraws_by_absence(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    guids = [f"g{n}" for n in range(40)]
    guids[30] = "g3"  # a repeated id, batches apart: told apart as g3#2
    served = {"body": rss(guids)}
    httpserver.expect_request("/feed").respond_with_handler(
        lambda _request: Response(served["body"], content_type="application/rss+xml")
    )
    url = httpserver.url_for("/feed")
    registry = write_registry(
        tmp_path / "clusters.yaml", {"offers": url}, options="        complete: true\n"
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())

    [first] = harvester.run(due_only=False)
    assert (first.status, first.new, first.failed) == ("ok", 40, 0)
    with sessions() as db:
        stored = db.scalars(sa.select(Offer.guid).order_by(Offer.id)).all()
    expected = [*guids[:30], "g3#2", *guids[31:]]
    assert stored == expected  # every batch, in document order
    with sessions() as db:
        recorded = db.execute(sa.select(HarvestRun.http_status, HarvestRun.bytes)).one()
    assert tuple(recorded) == (200, len(served["body"]))  # the body is not kept

    served["body"] = rss(guids[:35])  # five gone from a complete feed
    clock.now += timedelta(hours=1)
    [second] = harvester.run(due_only=False)
    assert (second.status, second.new, second.unchanged) == ("ok", 0, 35)
    with sessions() as db:
        missing = db.scalars(
            sa.select(Offer.guid).where(Offer.missing_runs == 1).order_by(Offer.id)
        ).all()
    assert missing == guids[35:]  # seen in any batch is seen


def test_the_spool_gives_back_every_batch_in_order_from_memory_or_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepared, "SPOOL_MEMORY", 100)
    spool = Spool()
    batches = [Batch(failed=n) for n in range(50)]
    for batch in batches:
        spool.add(pickle.dumps(batch))
    try:
        assert spool._file._rolled  # past SPOOL_MEMORY: in a temporary file
        assert list(spool) == batches
        assert list(spool) == batches  # each reading starts from the first
    finally:
        spool.close()


@pytest.mark.usefixtures("small_batches")
def test_a_feed_read_again_half_way_is_written_once(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    retracted: list[int],
) -> None:
    """The fast reader hands over four batches, then meets an item it leaves to
    feedparser: those batches and their keys are taken back, and the feedparser
    reading is written alone: each offer once, a repeated id told apart once."""
    guids = [f"g{n}" for n in range(40)]
    guids[20] = "g3"
    serve_one(httpserver, tmp_path, sessions, clock, rss(guids, relative=30))

    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 40, 0)
    assert retracted == [30 // 7]
    with sessions() as db:
        stored = db.execute(sa.select(Offer.guid, Offer.url).order_by(Offer.id)).all()
    assert [guid for guid, _ in stored] == [*guids[:20], "g3#2", *guids[21:]]
    assert stored[30].url == httpserver.url_for("/o/30")


@pytest.mark.usefixtures("small_batches")
def test_a_page_read_again_half_way_takes_back_its_own_batches_only(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    retracted: list[int],
) -> None:
    """A paged feed: the second page's fast reading gives up after three batches;
    the first page's two stay, and its keys too (a repeat across pages is told
    apart once)."""
    guids = [f"g{n}" for n in range(40)]
    guids[15] = "g3"
    second = rss(guids[10:], relative=25)
    httpserver.expect_request("/feed/2").respond_with_data(
        second, content_type="application/rss+xml"
    )
    serve_one(
        httpserver, tmp_path, sessions, clock, rss(guids[:10], next_page="/feed/2")
    )

    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 40, 0)
    assert retracted == [21 // 7]
    with sessions() as db:
        stored = db.scalars(sa.select(Offer.guid).order_by(Offer.id)).all()
    assert stored == [*guids[:15], "g3#2", *guids[16:]]


@pytest.mark.parametrize("memory", [100, 1 << 20], ids=["on disk", "in memory"])
def test_the_spool_drops_the_batches_taken_back(
    monkeypatch: pytest.MonkeyPatch, memory: int
) -> None:
    monkeypatch.setattr(prepared, "SPOOL_MEMORY", memory)
    spool = Spool()
    batches = [Batch(failed=n) for n in range(10)]
    try:
        for batch in batches[:6]:
            spool.add(pickle.dumps(batch))
        spool.retract(4)
        spool.retract(0)
        for batch in batches[6:]:
            spool.add(pickle.dumps(batch))
        assert (list(spool), spool.batches) == ([*batches[:2], *batches[6:]], 6)
    finally:
        spool.close()


@pytest.mark.parametrize("feed", ["valid", "not a feed", "unchanged"])
def test_a_big_body_reaches_its_parsing_worker_through_a_file_deleted_after(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    feed: str,
) -> None:
    """Past SPILL_BYTES, the body arrives into a file, never whole in the
    harvester's memory; read, unreadable or the same as last time, the file goes."""
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    monkeypatch.setattr(harvest, "SPILL_BYTES", 1024)
    fetched: list[tuple[int, bool]] = []  # (length in memory, in a file)
    fetch = harvest.fetch

    def recorded(*args: Any, **kwargs: Any) -> FetchResult:
        result = fetch(*args, **kwargs)
        fetched.append((len(result.body), result.body_path is not None))
        return result

    monkeypatch.setattr(harvest, "fetch", recorded)
    body = rss([f"g{n}" for n in range(40)])
    if feed == "not a feed":
        body = (
            b"<!DOCTYPE html><html><body>" + b"<p>Oferty</p>" * 200 + b"</body></html>"
        )
    serve_one(httpserver, tmp_path, sessions, clock, body)

    [run] = harvester.run(due_only=False)
    if feed == "unchanged":  # the same bytes again (no validators: a 200)
        clock.now += timedelta(hours=2)
        [run] = harvester.run(due_only=False)
        assert (run.status, run.new) == ("unchanged", 0)
    assert fetched[-1] == (0, True)  # the whole body in the file, none in memory
    assert list(spills.iterdir()) == []  # read, or not, the file is gone
    if feed == "not a feed":
        assert (run.status, run.error_class) == ("error", "not_a_feed")
        return
    with sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Offer)) == 40
        assert {r.bytes for r in db.scalars(sa.select(HarvestRun))} == {len(body)}


def profile_feed(entries: int, encoding: str = "utf-8") -> bytes:
    """An Atom profile feed of ``entries`` Polish offers, in ``encoding``."""
    document = "".join(
        [
            f"<?xml version='1.0' encoding='{encoding}'?>",
            '<feed xmlns="http://www.w3.org/2005/Atom" ',
            'xmlns:eco="https://e-cooperation.eu/ns/offer/1.0" xml:lang="pl">',
            "<id>tag:m.example,2026:f</id><title>Członkowie</title>",
            "<updated>2026-11-20T08:00:00Z</updated>",
            *(
                f"<entry><id>tag:m.example,2026:o-{n}</id><title>Gięcie {n}</title>"
                f'<link rel="alternate" type="text/html" href="https://m.example/{n}"/>'
                "<updated>2026-11-20T08:00:00Z</updated><eco:kind>business-offer"
                "</eco:kind><content type='html'>Obróbka łożysk</content></entry>"
                for n in range(entries)
            ),
            "</feed>",
        ]
    )
    return document.encode(encoding)


GUIDS = [f"g{n}" for n in range(30)]


@pytest.mark.parametrize(
    ("document", "loaded"),
    [
        (profile_feed(30), False),
        (profile_feed(30, "windows-1250"), True),  # recoded
        (rss(GUIDS), False),
        (rss(GUIDS, relative=20), True),  # left to feedparser half-way
    ],
    ids=["profile", "profile in windows-1250", "plain", "plain, feedparser's"],
)
def test_a_big_feed_in_utf8_is_parsed_from_its_file(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    document: bytes,
    loaded: bool,
) -> None:
    """Its parsing process reads it from the file as it parses, never holding its
    bytes; one to recode, or only feedparser reads, is loaded first."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(harvest, "SPILL_BYTES", 1024)
    loads = tmp_path / "loads"  # written by the parsing process
    loads.write_text("")
    load = FetchResult.loaded

    def counted(result: FetchResult) -> FetchResult:
        if result.body_path is not None:
            with loads.open("a") as log:
                log.write(f"{result.url}\n")
        return load(result)

    monkeypatch.setattr(FetchResult, "loaded", counted)  # the worker forks after
    serve_one(httpserver, tmp_path, sessions, clock, document)

    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 30)
    with sessions() as db:
        bodies = list(db.scalars(sa.select(Offer.body_text)))
    assert len(bodies) == 30 and all(b.startswith("Obróbka ") for b in bodies)
    expected = [httpserver.url_for("/feed")] if loaded else []
    assert loads.read_text().split() == expected


def test_a_big_json_feed_is_read_item_by_item_from_its_file(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(harvest, "SPILL_BYTES", 1024)

    def whole(*args: object) -> None:
        raise AssertionError("the JSON Feed was read whole")

    monkeypatch.setattr(reader, "_read_json", whole)  # the worker forks after
    items = [
        {
            "id": f"o-{n}",
            "url": f"https://m.example/o/{n}",
            "title": f"Gięcie {n}",
            "content_text": "Obróbka łożysk",
            "_ecoop": {"kind": "business-offer"},
        }
        for n in range(30)
    ]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "M"}
    httpserver.expect_request("/feed").respond_with_data(
        json.dumps({**document, "items": items, "language": "pl"}),
        content_type="application/feed+json",
    )
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": httpserver.url_for("/feed")},
        type_="jsonfeed",
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())

    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 30)
    with sessions() as db:
        rows = db.execute(sa.select(Offer.body_text, Offer.language)).all()
    assert set(rows) == {("Obróbka łożysk", "pl")} and len(rows) == 30


@pytest.mark.parametrize(
    ("body", "may"),
    [
        (b'{"title": "Gi\\u0119cie"}', False),
        (b"<title>Gi&#281;cie &amp; spawanie</title>", False),
        (b'{"title": "A\\u0000B"}', True),
        (b"<title>A&#0;B</title>", True),
        (b"<title>A&#x00;B</title>", True),
        (b"<title>it&#039;s</title>", True),  # a leading zero: a needless check only
        ("Gięcie".encode("utf-16"), True),
    ],
)
def test_a_document_says_whether_its_items_may_hold_a_nul(
    body: bytes, may: bool, tmp_path: Path
) -> None:
    """Items are cleaned of NUL only where the document may hold one
    (prepared.may_hold_nul): the check costs a worker ~7 us an item."""
    assert prepared.may_hold_nul(body) is may
    # A spilled body is read a megabyte at a time: a sign across two reads counts.
    signs = [body.find(s) for s in (b"\x00", b"\\u0000", b"&#0", b"&#x0")]
    at = min((i for i in signs if i >= 0), default=0)
    padded = b" " * ((1 << 20) - 2 - at) + body  # the sign's third byte, read second
    path = tmp_path / "body"
    path.write_bytes(padded)
    with path.open("rb") as file:
        assert prepared.may_hold_nul(file) is may
        assert file.tell() == 0
