"""PostgreSQL reads the newest matches segment by segment (hub.search_segments).

The corpus is test_hub_search's (ten offers), cut into segments of two ids so that a
search crosses several of them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from test_hub_search import NOW
from test_hub_search import corpus  # noqa: F401  (a fixture)
from test_hub_search import guids

from hub import search
from hub import search_engines
from hub import search_plan
from hub import search_query
from hub import search_segments
from hub.models import Offer
from hub.search import OfferQuery
from hub.search import search_offers

SIZE = 2  # ids per segment in these tests


def indexes(sessions: sessionmaker[Session]) -> dict[str, str]:
    """The segment indexes on offers: name -> definition."""
    with sessions() as db:
        rows = db.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'offers' AND schemaname = current_schema() "
                "AND indexname LIKE 'ix_offers_search_seg_%'"
            )
        )
        return {name: definition for name, definition in rows}


def id_range(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as db:
        oldest, newest = db.execute(
            sa.select(sa.func.min(Offer.id), sa.func.max(Offer.id))
        ).one()
        return oldest, newest


@pytest.fixture
def pg(corpus: sessionmaker[Session]) -> sessionmaker[Session]:  # noqa: F811
    if corpus.kw["bind"].dialect.name != "postgresql":
        pytest.skip("segments are PostgreSQL's (FTS5 reads its doclists newest first)")
    return corpus


def test_every_segment_the_offers_reach_and_the_next_is_indexed(
    pg: sessionmaker[Session],
) -> None:
    oldest, newest = id_range(pg)
    segments = search_segments.refresh(pg.kw["bind"], SIZE)
    assert segments[0][0] < oldest <= segments[0][1]
    assert segments[-2][0] < newest <= segments[-2][1]  # the last holds none yet
    assert all(hi - lo == SIZE for lo, hi in segments)
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:], strict=False))
    built = indexes(pg)
    assert sorted(built) == sorted(
        f"ix_offers_search_seg_{lo}_{hi}" for lo, hi in segments
    )
    lo, hi = segments[0]
    assert (
        f"WHERE ((id > {lo}) AND (id <= {hi}))"
        in built[f"ix_offers_search_seg_{lo}_{hi}"]
    )
    with pg() as db:
        assert search_segments.layout(db) == (oldest, newest, segments)
    # Nothing new: nothing built again; another size: the old ones go.
    assert search_segments.refresh(pg.kw["bind"], SIZE) == segments
    assert indexes(pg) == built
    wider = search_segments.refresh(pg.kw["bind"], SIZE + 1)
    assert set(indexes(pg)) == {f"ix_offers_search_seg_{lo}_{hi}" for lo, hi in wider}


def test_only_the_newest_segments_are_indexed(
    pg: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_segments, "NEWEST_SEGMENTS", 2)
    oldest, newest = id_range(pg)
    segments = search_segments.refresh(pg.kw["bind"], SIZE)
    assert len(segments) == 3 and segments[0][0] > oldest  # two, and the next
    assert segments[-2][0] < newest <= segments[-2][1]
    assert len(indexes(pg)) == 3
    # A search reaching below them reads the rest through the whole index: "cnc"
    # is the oldest offer, "sheet" lies below the newest segment.
    monkeypatch.setattr(search, "WINDOW", 1)
    monkeypatch.setattr(
        search_plan, "choose", lambda est: search_plan.Choice(True, est.segments[0])
    )
    assert guids(pg, "obrobka") == ["cnc", "sheet"]


def test_a_small_table_keeps_to_its_whole_index(pg: sessionmaker[Session]) -> None:
    oldest, newest = id_range(pg)
    size = (newest - oldest) // search_segments.MIN_SEGMENTS + 1
    assert search_segments.refresh(pg.kw["bind"], size) == ()
    assert indexes(pg) == {}
    with pg() as db:
        assert search_segments.layout(db).segments == ()


def test_sqlite_has_no_segments(sessions: sessionmaker[Session]) -> None:
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("the SQLite case")
    assert search_segments.refresh(sessions.kw["bind"], SIZE) == ()


# Each offer again ``copies`` times (a guid and a word of each copy's own).
_COPIES = (
    "INSERT INTO offers (source_id, cluster_id, guid, kind, title, body_html, "
    "body_text, language, country, categories, published_at, status, content_hash, "
    "search_text, first_seen_at, last_seen_at, missing_runs) "
    "SELECT source_id, cluster_id, guid || '-' || n, kind, title, body_html, "
    "body_text, language, country, categories, published_at, status, content_hash, "
    "search_text || ' w' || n, first_seen_at, last_seen_at, missing_runs "
    "FROM offers, generate_series(1, {copies}) n"
)


def test_a_segment_is_read_through_its_own_index(pg: sessionmaker[Session]) -> None:
    """A branch's id range is its index's predicate: the planner takes that index,
    not the whole table's GIN index ANDed with the id index (it would with any
    narrower range, which makes the segment's index look redundant)."""
    with pg() as db:  # enough offers for the planner to weigh its indexes
        db.execute(sa.text(_COPIES.format(copies=800)))
        db.commit()
    segments = search_segments.refresh(pg.kw["bind"], 1024)
    oldest, newest = id_range(pg)
    lo, hi = segments[-3]
    read = search_plan.Window(
        Offer.id.desc(), newest - lo, newest, oldest, True, segments
    )
    *_, lowest, _below = read.branches()  # newest first, down to (lo, hi]
    match = search_engines.Postgres().match(search_query.parse("obrobka"))
    statement = sa.select(Offer.id).where(*lowest, *match)
    with pg() as db:
        db.execute(sa.text("SET LOCAL enable_indexscan = off"))  # as a read does
        compiled = statement.compile(dialect=db.get_bind().dialect)
        plan = "\n".join(
            row[0]
            for row in db.connection().exec_driver_sql(
                "EXPLAIN " + compiled.string, compiled.params
            )
        )
    assert f"ix_offers_search_seg_{lo}_{hi}" in plan, plan
    assert "ix_offers_search_vector" not in plan and "pk_offers" not in plan, plan


@pytest.mark.parametrize("window", [1, 1000])
def test_searches_find_the_same_segment_by_segment(
    pg: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    texts = ("obrobka", '"toczenie i frezowanie"', "zaliuzes -gamyba", "a", "palet")
    expected = {text: guids(pg, text) for text in texts}
    expected_filtered = guids(pg, "a", kind="business-offer")
    search_segments.refresh(pg.kw["bind"], SIZE)
    monkeypatch.setattr(search, "WINDOW", window)
    # A floor at the newest segment: the same statement reads on below it.
    monkeypatch.setattr(
        search_plan, "choose", lambda est: search_plan.Choice(True, est.segments[0])
    )
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("WITH") and "search_vector @@" in statement:
            reads.append(statement)

    bind = pg.kw["bind"]
    sa.event.listen(bind, "before_cursor_execute", record)
    try:
        for text, found in expected.items():
            assert guids(pg, text) == found, text
        assert guids(pg, "a", kind="business-offer") == expected_filtered
        with pg() as db:  # facets over the window read in segments
            page = search_offers(db, OfferQuery(text="obrobka", facets=True), NOW)
            assert dict(page.facets["kind"]) == {"business-offer": 2}
    finally:
        sa.event.remove(bind, "before_cursor_execute", record)
    assert any("UNION ALL" in r and "offers.id <= " in r for r in reads)


def test_a_read_stops_at_the_segment_that_fills_the_window(
    pg: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The branches run newest first, and only until the window is full: a read
    down to the oldest segment, of a word in most offers, runs the newest ones."""
    with pg() as db:  # the corpus four times over: obrobka in eight offers
        db.execute(sa.text(_COPIES.format(copies=3)))
        db.commit()
    monkeypatch.setattr(search, "WINDOW", 1)  # a window of two offers
    assert len(matches := guids(pg, "obrobka")) == 8  # the window ranked, the rest
    search_segments.refresh(pg.kw["bind"], SIZE)
    monkeypatch.setattr(
        search_plan, "choose", lambda est: search_plan.Choice(True, est.segments[-1])
    )
    reads: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        if statement.startswith("WITH") and "search_vector @@" in statement:
            reads.append((statement, parameters))

    bind = pg.kw["bind"]
    sa.event.listen(bind, "before_cursor_execute", record)
    try:
        with pg() as db:
            page = search_offers(db, OfferQuery(text="obrobka"), NOW)
    finally:
        sa.event.remove(bind, "before_cursor_execute", record)
    assert [o.guid for o in page.offers] == matches
    ((statement, parameters),) = reads
    with pg() as db:
        db.execute(sa.text("SET LOCAL enable_indexscan = off"))  # as a read does
        db.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
        rows = db.connection().exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters
        )
        plan = "\n".join(row[0] for row in rows)
    branches = [line for line in plan.splitlines() if "Subquery Scan on" in line]
    idle = [line for line in branches if "(never executed)" in line]
    assert len(branches) > 8 and len(idle) > len(branches) // 2, plan


def branches(read: search_plan.Window) -> list[str]:
    """Each branch's id conditions, with the ids written out."""
    return [
        re.sub(
            r"CAST\((\d+) AS INTEGER\)",
            r"\1",
            str(sa.and_(*b).compile(compile_kwargs={"literal_binds": True})),
        )
        for b in read.branches()
    ]


def test_a_read_takes_a_branch_per_segment_newest_first_then_all_below() -> None:
    segments = ((10, 20), (20, 30), (40, 50), (50, 60))
    read = search_plan.Window(Offer.id.desc(), 40.0, 55, 1, True, segments)
    assert branches(read) == [
        "offers.id > 50 AND offers.id <= 60",
        "offers.id > 40 AND offers.id <= 50",
        "offers.id > 30 AND offers.id <= 40",  # no index of its own
        "offers.id > 20 AND offers.id <= 30",
        "offers.id > 15 AND offers.id <= 20",  # a floor inside a segment: from it
        "offers.id <= 15",  # the rest, run only if those above hold no window
    ]
    assert read.aligned(40.0) == 45.0  # down to the boundary of the floor's segment
    # Offers above the last segment indexed: a branch of their own.
    above = search_plan.Window(Offer.id.desc(), 10.0, 65, 1, True, segments)
    assert branches(above) == [
        "offers.id > 60",
        "offers.id > 55 AND offers.id <= 60",
        "offers.id <= 55",
    ]
    # Down to the oldest offer: nothing below.
    every = search_plan.Window(Offer.id.desc(), 50.0, 60, 15, True, segments)
    assert branches(every)[-1] == "offers.id > 10 AND offers.id <= 20"
    # No segments: the ids above the floor, then the rest; no floor: one branch.
    assert branches(search_plan.Window(Offer.id.desc(), 10.0, 65, 1)) == [
        "offers.id > 55",
        "offers.id <= 55",
    ]
    assert search_plan.Window(Offer.id.desc()).branches() == [[]]


def test_with_segments_a_floor_is_a_segment_boundary() -> None:
    spans = tuple(float(k * 65_536) for k in range(1, 15))

    def choice(matches: float) -> search_plan.Choice:
        est = search_plan.Estimates(1e6, matches, matches, matches, segments=spans)
        return search_plan.choose(est)

    assert choice(500) == search_plan.Choice(collect=True)  # rare: every match
    assert choice(700_000) == search_plan.Choice(collect=False)  # common: walk
    few = choice(20_000)  # a few percent: the newest segments hold a window
    assert few.collect and few.span in spans and few.span <= 2 * 65_536
