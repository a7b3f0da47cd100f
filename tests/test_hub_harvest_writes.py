"""How a harvest records its runs: those that arrive together, together.

An unchanged harvest is mostly 304s: they are recorded in one transaction, not one
each; documents that come in while the writer is busy are written together too.
A failure or a lost lease there still touches one source only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import arrivals
from hub import harvest
from hub import index
from hub import recording
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Source
from hub.registry import load

RSS = (Path(__file__).resolve().parent / "data" / "rss" / "basic.xml").read_bytes()
NAMES = ("a", "b", "c", "d", "e")


@pytest.fixture
def registered(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> sessionmaker[Session]:
    """Five feeds in the registry, never harvested; each answers 304 to its ETag."""
    for name in NAMES:
        httpserver.expect_request(
            f"/{name}", headers={"If-None-Match": f'"{name}"'}
        ).respond_with_data("", status=304)
        httpserver.expect_request(f"/{name}").respond_with_data(
            RSS.replace(b"<guid>", f"<guid>{name}-".encode()),
            content_type="application/rss+xml",
            headers={"ETag": f'"{name}"'},
        )
    urls = {name: httpserver.url_for(f"/{name}") for name in NAMES}
    registry = load(write_registry(tmp_path / "clusters.yaml", urls))
    with sessions() as db:
        index.sync_registry(db, registry, clock())
    return sessions


@pytest.fixture
def harvested(
    registered: sessionmaker[Session], harvester: Harvester, clock: Clock
) -> sessionmaker[Session]:
    """The five feeds harvested once."""
    assert {s.status for s in harvester.run(due_only=False)} == {"ok"}
    clock.now += timedelta(hours=1)
    return registered


@contextlib.contextmanager
def counted_commits(engine: sa.Engine) -> Iterator[list[object]]:
    """The engine's commits while in the block."""
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    sa.event.listen(engine, "commit", count)
    try:
        yield commits
    finally:
        sa.event.remove(engine, "commit", count)


def slow_first_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's first outcome is written only once every outcome has arrived:
    the others wait for it, together (however fast or slow the machine)."""
    put, apply = arrivals.Arrivals.put, recording.apply
    arrived = threading.Semaphore(0)
    calls: list[str] = []

    def counted(self: arrivals.Arrivals, item: Any) -> None:
        put(self, item)
        arrived.release()

    def slow(db: Session, source: Source, *args: Any, **kwargs: Any) -> Any:
        calls.append(source.key)
        if len(calls) == 1:
            for _ in NAMES:
                assert arrived.acquire(timeout=30)
        return apply(db, source, *args, **kwargs)

    monkeypatch.setattr(arrivals.Arrivals, "put", counted)
    monkeypatch.setattr(recording, "apply", slow)


def latest_runs(sessions: sessionmaker[Session]) -> dict[str, HarvestRun]:
    with sessions() as db:
        rows = db.execute(
            sa.select(Source.key, HarvestRun)
            .join(HarvestRun, HarvestRun.source_id == Source.id)
            .order_by(HarvestRun.id)
        ).all()
    return {key: run for key, run in rows}


def test_an_unchanged_harvest_records_its_runs_in_one_transaction(
    harvested: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 60.0)  # however slow the machine
    engine = harvested.kw["bind"]
    inserts: list[str] = []

    def record(_c: object, _cu: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO harvest_runs"):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with counted_commits(engine) as commits:
            summaries = harvester.run(due_only=False)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert [s.status for s in summaries] == ["not_modified"] * len(NAMES)
    # Claiming, starting the runs (one INSERT), then one transaction for the five.
    assert len(commits) == 3
    assert len(inserts) == 1
    runs = latest_runs(harvested)
    assert {r.status for r in runs.values()} == {"not_modified"}
    assert all(r.finished_at == clock() and r.http_status == 304 for r in runs.values())
    with harvested() as db:
        for source in db.scalars(sa.select(Source)):
            assert source.lease_owner is None and source.lease_until is None
            assert source.next_check_at == clock() + timedelta(hours=1)
        assert db.scalar(sa.select(sa.func.count()).select_from(Offer)) == 10


def test_offers_missing_already_count_one_more_absence_when_written_together(
    harvested: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 304 of a complete feed counts its missing offers as missing once more;
    the unchanged sources with none are looked up in one SELECT, not one each."""
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 60.0)
    with harvested() as db:
        b = db.scalar(sa.select(Source).where(Source.key == "metal/b"))
        assert b is not None
        lingering, leaving = db.scalars(
            sa.select(Offer).where(Offer.source_id == b.id).order_by(Offer.id)
        ).all()[:2]
        lingering.missing_runs, lingering.missing_since = 1, clock()
        leaving.missing_runs, leaving.missing_since = 2, clock() - timedelta(days=1)
        ids = lingering.id, leaving.id
        db.commit()
    summaries = {s.source: s for s in harvester.run(due_only=False)}
    assert {s.status for s in summaries.values()} == {"not_modified"}
    assert summaries["metal/b"].withdrawn == 1
    assert {k for k, s in summaries.items() if s.withdrawn} == {"metal/b"}
    with harvested() as db:
        lingering, leaving = (db.get(Offer, i) for i in ids)
        assert lingering is not None and leaving is not None
        assert (lingering.missing_runs, lingering.status) == (2, "active")
        assert (leaving.missing_runs, leaving.status) == (3, "withdrawn")
        others = db.scalars(sa.select(Offer).where(Offer.id.not_in(ids))).all()
        assert {(o.missing_runs, o.status) for o in others} == {(0, "active")}


def test_a_run_that_cannot_be_written_fails_alone(
    harvested: sessionmaker[Session],
    harvester: Harvester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apply = recording.apply

    def failing(db: Session, source: Source, *args: Any) -> Any:
        outcome = args[1]
        if source.key == "metal/c" and outcome.error is None:
            raise sa.exc.OperationalError("UPDATE sources", {}, Exception("disk I/O"))
        return apply(db, source, *args)

    monkeypatch.setattr(recording, "apply", failing)
    summaries = {s.source: s for s in harvester.run(due_only=False)}
    assert summaries.pop("metal/c").error_class == "internal"
    assert {s.status for s in summaries.values()} == {"not_modified"}
    runs = latest_runs(harvested)
    assert runs["metal/c"].status == "error"
    assert "internal error" in (runs["metal/c"].error or "")
    assert {r.status for k, r in runs.items() if k != "metal/c"} == {"not_modified"}


def test_documents_that_wait_for_the_writer_are_written_together(
    registered: sessionmaker[Session],
    harvester: Harvester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_first_write(monkeypatch)
    engine = registered.kw["bind"]
    with counted_commits(engine) as commits:
        summaries = harvester.run(due_only=False)
    assert [(s.status, s.new) for s in summaries] == [("ok", 2)] * len(NAMES)
    # Claiming, starting the runs, the first take; the documents that waited for
    # it: one transaction (one per source would be seven commits).
    assert len(commits) in (3, 4)
    with registered() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Offer)) == 10
        assert set(db.scalars(sa.select(HarvestRun.status))) == {"ok"}


def test_a_document_that_cannot_be_written_fails_alone(
    registered: sessionmaker[Session],
    harvester: Harvester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_first_write(monkeypatch)
    apply = recording.apply

    def failing(db: Session, source: Source, *args: Any) -> Any:
        if source.key == "metal/d" and args[1].error is None:
            raise sa.exc.OperationalError("INSERT INTO offers", {}, Exception("full"))
        return apply(db, source, *args)

    monkeypatch.setattr(recording, "apply", failing)
    summaries = {s.source: s for s in harvester.run(due_only=False)}
    assert summaries.pop("metal/d").error_class == "internal"
    assert {(s.status, s.new) for s in summaries.values()} == {("ok", 2)}
    with registered() as db:
        sources = db.execute(
            sa.select(Source.key, sa.func.count(Offer.id))
            .join(Offer, Offer.source_id == Source.id)
            .group_by(Source.key)
        ).all()
    assert dict(sources) == {f"metal/{n}": 2 for n in NAMES if n != "d"}


# Makes the database refuse every new offer, as a full disk would (its own message).
REFUSE_OFFERS = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON offers "
        "BEGIN SELECT RAISE(ABORT, 'no room for new offers'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'no room for new offers'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON offers "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
ALLOW_OFFERS = {
    "sqlite": "DROP TRIGGER refuse",
    "postgresql": "DROP TRIGGER refuse ON offers",
}


def test_a_refused_write_shows_the_databases_words_not_the_statement(
    registered: sessionmaker[Session], harvester: Harvester, clock: Clock
) -> None:
    """Runs' errors are public (the status page, the API): a database's refusal is
    shown as its driver's message, without the statement and parameters
    SQLAlchemy's message carries. Once the database takes writes again, the next
    run writes the offers."""
    engine = registered.kw["bind"]
    with engine.begin() as connection:
        for statement in REFUSE_OFFERS[engine.dialect.name]:
            connection.exec_driver_sql(statement)
    summaries = harvester.run(due_only=False)
    assert {(s.status, s.error_class) for s in summaries} == {("error", "internal")}
    for run in latest_runs(registered).values():
        assert run.error is not None
        assert run.error.startswith("internal error: ")
        assert run.error.endswith(": no room for new offers"), run.error
        assert "INSERT" not in run.error and "offers_" not in run.error
    with engine.begin() as connection:
        connection.exec_driver_sql(ALLOW_OFFERS[engine.dialect.name])
    clock.now += timedelta(hours=1)
    assert {(s.status, s.new) for s in harvester.run(due_only=False)} == {("ok", 2)}


def test_a_group_holds_a_bounded_number_of_batches() -> None:
    sizes = [12, 8, 1, 300, 5, 0, 0]
    outcomes = []
    for batches in sizes:
        outcome = recording.Outcome(job=None, spool=recording.Spool())  # type: ignore[arg-type]
        assert outcome.spool is not None
        for _ in range(batches):
            outcome.spool.add(b"a batch")
        outcomes.append(outcome)
    try:
        groups = [[o.spool.batches for o in g] for g in harvest._groups(outcomes)]  # type: ignore[union-attr]
    finally:
        for outcome in outcomes:
            outcome.close()
    assert groups == [[12, 8], [1], [300], [5, 0, 0]]
    assert harvest.GROUP_BATCHES == 20


def test_a_lost_lease_drops_that_source_only(
    harvested: sessionmaker[Session],
    harvester: Harvester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_together = harvester._write_together

    def another_worker_took_b(db: Session, outcomes: list[Any]) -> Any:
        with harvested() as other:  # its lease expired; another worker claimed it
            other.execute(
                sa.update(Source)
                .where(Source.key == "metal/b")
                .values(lease_owner="another")
            )
            other.commit()
        return write_together(db, outcomes)

    monkeypatch.setattr(harvester, "_write_together", another_worker_took_b)
    summaries = {s.source: s for s in harvester.run(due_only=False)}
    assert summaries.pop("metal/b").error == "lease lost"
    assert {s.status for s in summaries.values()} == {"not_modified"}
    runs = latest_runs(harvested)
    assert runs["metal/b"].status == "running"  # left to the lease's new holder
    with harvested() as db:
        held = db.scalar(sa.select(Source.lease_owner).where(Source.key == "metal/b"))
    assert held == "another"
