"""PostgreSQL's side of a harvest's writes. The search vector the parsing workers
build (hub.pg_vector) is the one the database computes (``ecoop_search_vector``), or
None where it would not be; the trigger keeps a new offer's own vector and computes
a missing one. A batch's known offers, and tombstoned ones, are found by one index
probe each, also for a source the statistics do not know; the offers' values are
compressed with lz4."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import T0
from helpers import write_registry
from index_data import offer_data
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import index
from hub import search_ddl
from hub.harvest import Harvester
from hub.models import Offer
from hub.models import Source
from hub.normalize import searchable_text
from hub.pg_vector import text_vector
from hub.pg_vector import vector
from hub.registry import load

# PostgreSQL only: conftest's db_url, its PostgreSQL schema.
pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
# Offers of one source written before a batch is looked up (a 100,000-offer feed's
# first harvest took 127 s when each batch's lookup read them all; 22 s since).
SIZE = 20_000

Texts = tuple[str, str | None, str | None, tuple[str, ...], str]
# title, organisation, town, categories, body
OFFERS: list[Texts] = [
    (
        "Obróbka CNC – Łódź, 5-osiowa",
        "Metal-Tech Białystok Sp. z o.o.",
        "Białystok",
        ("25.62 Obróbka mechaniczna elementów metalowych", "CNC"),
        "Toczenie i frezowanie (EN 1090-2, ISO 9001:2015); tel. +48 85 123 45 67, "
        "biuro@metal-tech.example, https://metal-tech.example/oferta?x=1&y=2. "
        "Partie 10-500 szt., tolerancja ±0,01 mm, 3,5 m², ½ zmiany, A4, 0x1F, 007.",
    ),
    (
        "Žaliuzės ir roletai Vilniuje",
        "UAB „Lazdijų stalius“",
        "Lazdijai",
        ("Baldai",),
        "Gaminame medines žaliuzes; pristatome į Druskininkus ir Łoździeje. "
        "Kaina nuo 1e5 iki 12e3 eurų.",
    ),
    ("Smith's co-operation: MIG/MAG welding", None, None, (), "e-mail: it's ok"),
    ("", None, None, (), ""),
    # What Python leaves to the database: Cyrillic; a word the parser splits; one
    # lexeme in more than 255 places; a word of more than 2047 characters; more
    # than 16,383 positions.
    ("Spawacz – Гродно", "ООО Сварка", "Гродно", ("Сварка",), "Сварщик MIG/MAG"),
    ("Cena", None, None, (), "nie 1e5x"),
    ("Słowo " + "słowo " * 300, None, None, (), "krótko"),
    ("Długi", None, None, (), "a" * 2100),
    ("Wiele słów", None, None, (), "słowo " * 17000),
]
LEFT_TO_THE_DATABASE = 4  # the offers from this one on
RSS = (Path(__file__).resolve().parent / "data" / "rss" / "basic.xml").read_bytes()


def _database_vector(
    conn: sa.Connection,
    offer: Texts,
    kind: str = "business-offer",
    language: str | None = "pl",
    country: str | None = "PL",
) -> str:
    title, organisation, town, categories, body = offer
    query = sa.text(
        "SELECT ecoop_search_vector(:title, :organisation, CAST(:categories AS json),"
        " :search_text, :kind, :language, :country)::text"
    )
    return str(
        conn.execute(
            query,
            {
                "title": title,
                "organisation": organisation,
                "categories": json.dumps(list(categories)),
                "search_text": searchable_text(*offer),
                "kind": kind,
                "language": language,
                "country": country,
            },
        ).scalar_one()
    )


def _as_tsvector(conn: sa.Connection, literal: str) -> str:
    query = sa.text("SELECT CAST(:literal AS tsvector)::text")
    return str(conn.execute(query, {"literal": literal}).scalar_one())


def _built(offer: Texts) -> str | None:
    title, organisation, _, categories, _ = offer
    return text_vector(title, organisation, categories, searchable_text(*offer))


@pytest.mark.parametrize("n", range(len(OFFERS)))
def test_the_vector_built_in_python_is_the_databases_or_none(
    engine: sa.Engine, n: int
) -> None:
    built = _built(OFFERS[n])
    if n >= LEFT_TO_THE_DATABASE:
        assert built is None
        return
    literal = vector(built, "business-offer", "pl", "PL")
    assert literal is not None
    with engine.connect() as conn:
        assert _as_tsvector(conn, literal) == _database_vector(conn, OFFERS[n])


def test_the_filter_lexemes_are_the_offers_kind_language_and_country(
    engine: sa.Engine,
) -> None:
    built = _built(OFFERS[2])
    with engine.connect() as conn:
        for kind, language, country in [("job-offer", "en", "LT"), ("job", None, None)]:
            literal = vector(built, kind, language, country)
            assert literal is not None
            expected = _database_vector(conn, OFFERS[2], kind, language, country)
            assert _as_tsvector(conn, literal) == expected


def test_a_word_is_left_to_the_database_only_when_its_parser_splits_it(
    engine: sa.Engine,
) -> None:
    """PostgreSQL's parser reads "1e5x" as the number 1e5 and the word x. Checked
    against the parser over every word of up to five of 0, 1, e and a, and 20,000
    random words of letters and digits."""
    words = {
        "".join(w) for n in range(1, 6) for w in itertools.product("0e1a", repeat=n)
    }
    rng = random.Random(8)
    words |= {
        "".join(rng.choice("0123456789eaxbz") for _ in range(rng.randint(1, 10)))
        for _ in range(20_000)
    }
    words |= {"1e5x", "12e3abc", "abc1e5", "2026"}
    built = {word: text_vector("", None, (), word) for word in words}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT w, CASE WHEN lit IS NOT NULL THEN "
                "CAST(lit AS tsvector) = setweight(to_tsvector('simple', w), 'C') END,"
                " (SELECT count(*) FROM ts_debug('simple', w) WHERE alias <> 'blank')"
                " FROM unnest(CAST(:words AS text[]), CAST(:literals AS text[]))"
                " AS t(w, lit)"
            ),
            {"words": list(built), "literals": list(built.values())},
        ).all()
    assert len(rows) == len(words)
    assert [w for w, same, _ in rows if same is False] == []  # built, and wrong
    assert [w for w, same, tokens in rows if same is None and tokens == 1] == []
    assert {"1e5x", "12e3abc", "0e0a"} <= {w for w, same, _ in rows if same is None}


@pytest.fixture
def db(
    sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[Session, Source]]:
    registry = load(write_registry(tmp_path / "c.yaml", {"a": "https://a.example/f"}))
    with sessions() as session:
        index.sync_registry(session, registry, T0)
        yield session, session.scalars(sa.select(Source)).one()


def _stored(db: Session, guid: str) -> tuple[str, str]:
    """The offer's vector, and the one the database computes of its columns."""
    row = db.execute(
        sa.text(
            "SELECT search_vector::text, ecoop_search_vector(title, organisation_name,"
            " categories, search_text, kind, language, country)::text FROM offers"
            " WHERE guid = :guid"
        ),
        {"guid": guid},
    ).one()
    return str(row[0]), str(row[1])


def test_the_trigger_keeps_a_new_offers_vector_and_computes_a_missing_one(
    db: tuple[Session, Source],
) -> None:
    session, source = db
    marked = offer_data("marked", "Gięcie blach", pg_vector="'marker':1")
    plain = offer_data("plain", "Gięcie blach")  # no vector: the database's
    index.upsert_offers(session, source, [marked, plain], T0)
    session.commit()
    kept, _ = _stored(session, "marked")
    assert kept == "'marker':1 '~c:PL' '~k:business-offer' '~l:pl'"
    stored, computed = _stored(session, "plain")
    assert stored == computed
    assert "'giecie':1A" in stored
    # Its words changed: the database computes the vector again.
    changed = offer_data("marked", "Cięcie laserowe", pg_vector="'marker':1")
    index.upsert_offers(session, source, [changed], T0)
    session.commit()
    stored, computed = _stored(session, "marked")
    assert stored == computed
    assert "'laserowe':2A" in stored


def test_a_harvest_into_postgresql_writes_the_vectors_its_workers_built(
    harvester: Harvester,
    sessions: sessionmaker[Session],
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parsing workers build each offer's vector (the writer then only adds
    its filter lexemes), and it is the one the database would have computed."""
    written: list[str | None] = []
    insert = index._insert

    def recorded(db: Session, rows: list[dict[str, object]]) -> None:
        written.extend(row[search_ddl.PG_COLUMN] for row in rows)  # type: ignore[misc]
        insert(db, rows)

    monkeypatch.setattr(index, "_insert", recorded)
    httpserver.expect_request("/feed").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    registry = load(
        write_registry(tmp_path / "c.yaml", {"a": httpserver.url_for("/feed")})
    )
    with sessions() as session:
        index.sync_registry(session, registry, T0)
    [run] = harvester.run(due_only=False)
    assert run.status == "ok" and run.new == 2
    assert len(written) == 2 and None not in written
    with sessions() as session:
        for guid in session.scalars(sa.select(Offer.guid)):
            stored, computed = _stored(session, guid)
            assert stored == computed


def _plan(session: Session, statement: str, parameters: Any) -> list[dict[str, Any]]:
    """The nodes of ``statement``'s plan as run (EXPLAIN ANALYZE), planned afresh
    for these parameters as an unprepared statement is (under PgBouncer's
    transaction pooling, say, each statement of a harvest is)."""
    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        .scalar_one()
    )
    return list(
        _nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    )


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _one_probe_per_guid(nodes: list[dict[str, Any]], guids: int) -> None:
    assert (
        {"uq_offers_source_id", "pk_offers"}
        >= {n["Index Name"] for n in nodes if "Index Name" in n}
        >= {"uq_offers_source_id"}
    )
    assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) == 0
    assert sum(n.get("Rows Removed by Index Recheck", 0) for n in nodes) == 0
    assert max(n["Actual Rows"] for n in nodes) <= guids


@pytest.fixture
def new_source(
    sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[Session, Source]]:
    """A session and a source new to the offers table's statistics, which know
    another source's offers (as in a federation's index when a member joins)."""
    urls = {"a": "https://a.example/f", "b": "https://b.example/f"}
    registry = load(write_registry(tmp_path / "c.yaml", urls))
    with sessions() as session:
        index.sync_registry(session, registry, T0)
        known, new = session.scalars(sa.select(Source).order_by(Source.key))
        for start in range(0, 2000, 500):
            offers = [offer_data(f"k-{n}", "Oferta") for n in range(start, start + 500)]
            index.upsert_offers(session, known, offers, T0)
        session.commit()
        session.execute(sa.text("ANALYZE offers"))
        yield session, new


def test_a_new_sources_offers_are_looked_up_one_index_probe_each(
    new_source: tuple[Session, Source], engine: sa.Engine
) -> None:
    """Each guid of a batch is looked up by one probe of the (source_id, guid)
    index, however many offers of a source the statistics do not know this very
    transaction wrote. Before, PostgreSQL read all of them for each guid: a new
    source's first harvest of 20,000 offers took 19.4 s instead of 3.9 s where
    statements are not prepared (bench/harvest.py --new-source; prepared ones are
    planned right after five batches)."""
    session, source = new_source
    batches = [
        [offer_data(f"o-{b}-{n}", f"Oferta {n}") for n in range(500)]
        for b in range(SIZE // 500 + 1)
    ]
    for batch in batches[:-1]:  # a big feed's first harvest, in one transaction
        index.upsert_offers(session, source, batch, T0)
    lookups: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "missing_runs" in statement and statement.lstrip().startswith("SELECT"):
            lookups.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        counts = index.upsert_offers(session, source, batches[-2] + batches[-1], T0)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert (counts.new, counts.unchanged) == (500, 500)
    assert len(lookups) == 2  # a statement per 500 guids
    _one_probe_per_guid(_plan(session, *lookups[0]), 500)


def test_tombstones_withdraw_a_new_sources_offers_one_index_probe_each(
    new_source: tuple[Session, Source], engine: sa.Engine
) -> None:
    session, source = new_source
    for start in range(0, SIZE, 500):
        offers = [offer_data(f"o-{n}", "Oferta") for n in range(start, start + 500)]
        index.upsert_offers(session, source, offers, T0)
    gone = [f"o-{n}" for n in range(0, SIZE, 40)]  # 500 tombstones
    updates: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE offers"):
            updates.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with session.begin_nested() as tried:  # what withdraw sends, then undone
            assert index.withdraw(session, source, gone, T0) == 500
            tried.rollback()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(updates) == 1
    _one_probe_per_guid(_plan(session, *updates[0]), 500)  # it runs the UPDATE
    withdrawn = session.scalars(
        sa.select(Offer.guid).where(
            Offer.source_id == source.id, Offer.status == "withdrawn"
        )
    )
    assert sorted(withdrawn) == sorted(gone)


def test_the_offers_compressed_columns_are_lz4_where_the_server_has_it(
    engine: sa.Engine,
) -> None:
    """Migration 0016: every new offer's bodies, search text and vector are
    compressed as written; lz4 does it in less time than pglz, the default."""
    with engine.connect() as conn:
        methods = conn.scalar(
            sa.text(
                "SELECT enumvals FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            )
        )
        compressions = set(
            conn.scalars(
                sa.text(
                    "SELECT attcompression FROM pg_attribute WHERE attrelid ="
                    " 'offers'::regclass AND attnum > 0 AND attlen = -1"
                )
            )
        )
    assert compressions == ({"l"} if "lz4" in methods else {""})
