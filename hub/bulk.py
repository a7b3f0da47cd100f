"""Many rows into one table, bound column by column: through the driver's
``executemany``, or PostgreSQL's ``COPY`` with psycopg.

``Connection.execute(table.insert(), rows)`` binds each row through SQLAlchemy's
generic machinery (parameters per row, a processor call per value). For the
thousands of new offers of a first harvest that was a third of the writer's time
(bench/harvest.py). Here each column's processor (the dialect's own, as
``execute`` would use: dates, JSON) runs over the whole column at once, once per
distinct value (a harvest's clock in two columns of every row, empty lists, NULLs:
give JSON lists as tuples to share theirs), and the driver gets plain tuples or
dicts. With psycopg, the rows go through ``COPY ... FROM STDIN`` instead: one
statement, not a round of binding and executing per row on the server (10,000
offers into a temporary table: 318 ms by executemany, bench/README.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Dialect

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class _Column:
    name: str
    process: Callable[[Any], Any] | None
    default: Any  # a value, or a callable of no argument, or _MISSING


@dataclasses.dataclass(frozen=True)
class _Statement:
    sql: str
    positional: bool
    columns: tuple[_Column, ...]


_statements: dict[tuple[str, str, str, tuple[str, ...]], _Statement] = {}


def insert(
    conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` into ``table``: every row has the keys of the first, and a
    column none of them names gets its Python default (as ``table.insert()``
    would give it; one whose default is an SQL expression must be named)."""
    if not rows:
        return
    statement = _statement(conn.dialect, table, tuple(rows[0]))
    values = [_bound(column, rows) for column in statement.columns]
    if conn.dialect.driver == "psycopg":
        _copy(conn, table, statement.columns, values)
        return
    if statement.positional:
        params: list[Any] = list(zip(*values, strict=True))
    else:
        names = [column.name for column in statement.columns]
        params = [
            dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)
        ]
    conn.exec_driver_sql(statement.sql, params)


def _copy(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[_Column],
    values: list[list[Any]],
) -> None:
    """The rows by PostgreSQL's COPY, in their order, in the connection's
    transaction; psycopg adapts each value as it would a parameter."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)


def _bound(column: _Column, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    if column.default is _MISSING:
        values = [row[column.name] for row in rows]
    elif callable(column.default):
        values = [column.default() for _ in rows]
    else:
        values = [column.default] * len(rows)
    return values if column.process is None else _processed(column.process, values)


def _processed(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``process`` over ``values``, once per distinct value (by type and value:
    ``1`` and ``True`` stay apart); an unhashable value (a dict) each time."""
    done: dict[tuple[type, Any], Any] = {}
    out = []
    for value in values:
        try:
            key = (type(value), value)
            bound = done.get(key, done)
        except TypeError:
            out.append(process(value))
            continue
        if bound is done:
            bound = done[key] = process(value)
        out.append(bound)
    return out


def _statement(dialect: Dialect, table: sa.Table, keys: tuple[str, ...]) -> _Statement:
    cache_key = (dialect.name, dialect.driver, table.name, keys)
    statement = _statements.get(cache_key)
    if statement is None:
        statement = _statements[cache_key] = _compile(dialect, table, keys)
    return statement


def _compile(dialect: Dialect, table: sa.Table, keys: tuple[str, ...]) -> _Statement:
    unknown = set(keys) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"no column {sorted(unknown)} in {table.name}")
    columns = []
    for column in table.columns:
        generator = column.default
        if column.name in keys:
            default: Any = _MISSING
        elif isinstance(generator, sa.ColumnDefault) and generator.is_scalar:
            default = generator.arg
        elif isinstance(generator, sa.ColumnDefault) and generator.is_callable:
            call = generator.arg  # SQLAlchemy's wrapper takes a context
            default = lambda call=call: call(None)  # noqa: E731
        elif generator is None:
            continue  # autoincrement, a server default, or NULL: the database's
        else:
            raise ValueError(f"{table.name}.{column.name} has an SQL default: name it")
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(_Column(column.name, process, default))
    compiled = table.insert().compile(
        dialect=dialect, column_keys=[c.name for c in columns]
    )
    if compiled.positional:
        order = {name: i for i, name in enumerate(compiled.positiontup or ())}
        columns.sort(key=lambda c: order[c.name])
    return _Statement(str(compiled), compiled.positional, tuple(columns))
