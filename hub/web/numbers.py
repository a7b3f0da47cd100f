"""Numbers a visitor puts in an address: a row's id and a page number, read only
within the ranges the databases and the listings take. A number past them is no
row (404, or no filter) and the last page we serve, never a database error: past a
64-bit key SQLite's driver raised OverflowError, a 500 any visitor could cause."""

from __future__ import annotations

from typing import TypeGuard

from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

MAX_ID = 2**63 - 1  # a 64-bit key: SQLite's integer, PostgreSQL's bigint
# 20,000 offers at 20 a page: beyond it a page cost ~0.4-0.9 s at 1M offers
# (an offset of 800,000 rows), a cost anyone could ask for again and again.
MAX_PAGE = 1000


class RowId(IntegerConverter):
    """``<id:name>`` in a route: a row's id, 1 to MAX_ID."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def row_id(text: str | None) -> int | None:
    """``text`` as a row's id (ASCII digits, 1 to MAX_ID), else None."""
    return number_in(text, 1, MAX_ID)


def page_number(text: str | None) -> int:
    """The page ``text`` asks for, 1 to MAX_PAGE: 1 unless it is a number of ASCII
    digits, MAX_PAGE for any page past it."""
    if not _digits(text):
        return 1
    return number_in(text, 1, MAX_PAGE) or (MAX_PAGE if text.strip("0") else 1)


def number_in(text: str | None, low: int, high: int) -> int | None:
    """``text`` as a number of ASCII digits from ``low`` to ``high``, else None. One
    of more digits than ``high`` has is past it unread: Python refuses to read a
    number of over 4,300 digits (ValueError)."""
    if not _digits(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(high)):
        return None
    value = int(significant)
    return value if low <= value <= high else None


def _digits(text: str | None) -> TypeGuard[str]:
    return text is not None and text.isascii() and text.isdigit()  # "" is no digit
