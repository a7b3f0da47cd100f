"""How a harvest finds what PostgreSQL already holds of a batch's offers: one probe
of the (source, guid) index per offer, however many offers the source has, and
even while this very transaction writes them (no statistics yet)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import T0
from helpers import write_registry
from index_data import offer_data
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import index
from hub.models import Source
from hub.registry import load

SIZE = 20_000  # offers of the source before the lookup (its first harvest: 127 s
# for a 100,000-offer feed when each batch's lookup read them all, 22 s since)
pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def db(
    sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[Session, Source]]:
    registry = load(write_registry(tmp_path / "c.yaml", {"a": "https://a.example/f"}))
    with sessions() as session:
        index.sync_registry(session, registry, T0)
        yield session, session.scalars(sa.select(Source)).one()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_a_batchs_offers_are_looked_up_one_index_probe_each(
    db: tuple[Session, Source], engine: sa.Engine
) -> None:
    session, source = db
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
    statement, parameters = lookups[0]
    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        .scalar_one()
    )
    nodes = list(
        _nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    )
    assert {"uq_offers_source_id"} == {
        n["Index Name"] for n in nodes if "Index Name" in n
    }
    assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) == 0
    assert sum(n.get("Rows Removed by Index Recheck", 0) for n in nodes) == 0
    assert max(n["Actual Rows"] for n in nodes) == 500


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
