"""hub.bulk: rows bound column by column read back as SQLAlchemy's own insert
writes them, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
import sqlalchemy as sa

from hub import bulk
from hub.models import UTCDateTime

metadata = sa.MetaData()
things = sa.Table(
    "bulk_things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100)),
    sa.Column("seen_at", UTCDateTime),
    sa.Column("tags", sa.JSON, default=list),
    sa.Column("contact", sa.JSON),
    sa.Column("note", sa.Text, default="none"),
    sa.Column("count", sa.Integer),
)

WARSAW = timezone(timedelta(hours=1))
ROWS = [
    {
        "name": "Łódź Spółka",
        "seen_at": datetime(2026, 11, 27, 10, 30, 15, 123456, tzinfo=UTC),
        "contact": {"email": "a@example.pl", "phone": None},
        "count": 3,
    },
    {
        "name": "žaliuzės",
        "seen_at": datetime(2026, 11, 27, 12, 0, tzinfo=WARSAW),  # stored as 11:00 UTC
        "contact": {},
        "count": None,
    },
    {"name": "no date", "seen_at": None, "contact": {"x": [1, 2]}, "count": 0},
    {  # what PostgreSQL's COPY text format escapes (hub.bulk writes through it)
        "name": "a\ttab, a\\N, a back\\slash,\na line\r",
        "seen_at": None,
        "contact": {"note": '\\N\t"quoted"'},
        "count": -1,
    },
]


def _read(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)[1:]
            for row in conn.execute(sa.select(things).order_by(things.c.id))
        ]


@pytest.fixture
def table(engine: sa.Engine) -> Iterator[sa.Engine]:
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)


def test_rows_read_back_as_sqlalchemys_insert_writes_them(table: sa.Engine) -> None:
    with table.begin() as conn:
        conn.execute(things.insert(), ROWS)
    expected = _read(table)
    with table.begin() as conn:
        conn.execute(things.delete())
        bulk.insert(conn, things, ROWS)
    assert _read(table) == expected
    assert expected[1][1] == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert [row[2] for row in expected] == [[], [], [], []]  # the Python default
    assert [row[4] for row in expected] == ["none"] * 4
    assert expected[3][0] == "a\ttab, a\\N, a back\\slash,\na line\r"


def test_a_column_the_table_lacks_is_an_error(table: sa.Engine) -> None:
    with table.begin() as conn, pytest.raises(ValueError, match="colour"):
        bulk.insert(conn, things, [{"name": "x", "colour": "red"}])


def test_a_naive_date_is_refused_as_by_the_model(table: sa.Engine) -> None:
    with table.begin() as conn, pytest.raises(ValueError, match="naive"):
        bulk.insert(conn, things, [{"name": "x", "seen_at": datetime(2026, 1, 1)}])


def test_no_rows_writes_nothing(table: sa.Engine) -> None:
    with table.begin() as conn:
        bulk.insert(conn, things, [])
    assert _read(table) == []


class _Counted(sa.types.TypeDecorator[str]):
    """A string whose binds are counted."""

    impl = sa.String(50)
    cache_ok = True
    binds: list[str | None] = []

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        _Counted.binds.append(value)
        return value


counted = sa.Table(
    "bulk_counted",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", _Counted),
    sa.Column("data", sa.JSON),
)


def test_a_value_repeated_in_a_column_is_bound_once_and_read_back_right(
    table: sa.Engine,
) -> None:
    labels = ["a", "b", None] * 100
    data = [("x", "y"), (), 1, True, {"k": "v"}, {"k": "v"}] * 50
    _Counted.binds.clear()
    with table.begin() as conn:
        bulk.insert(
            conn,
            counted,
            [{"label": la, "data": d} for la, d in zip(labels, data, strict=True)],
        )
    assert sorted(_Counted.binds, key=str) == [None, "a", "b"]
    with table.connect() as conn:
        rows = conn.execute(
            sa.select(counted.c.label, counted.c.data).order_by(counted.c.id)
        ).all()
    assert [r.label for r in rows] == labels
    # tuples come back as lists; 1 and True (equal, same hash) stay apart
    assert [r.data for r in rows[:6]] == [
        ["x", "y"],
        [],
        1,
        True,
        {"k": "v"},
        {"k": "v"},
    ]
