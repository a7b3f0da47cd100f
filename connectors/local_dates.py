"""Dates as old member sites write them: an operator's strptime format, ISO 8601, or
day-month-year with Polish, Lithuanian or English month names in any case form
("12 listopada 2026", "2026 m. lapkričio 12 d.", "12.11.2026").

Pure: text in, an aware UTC datetime out; no network, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC
from datetime import datetime
from datetime import time

# Folded (lower case, no diacritics) month names and abbreviations -> month number.
_MONTH_WORDS = {
    1: "styczen stycznia sty sausis sausio sau january jan",
    2: "luty lutego lut vasaris vasario vas february feb",
    3: "marzec marca mar kovas kovo kov march",
    4: "kwiecien kwietnia kwi balandis balandzio bal april apr",
    5: "maj maja geguze geguzes geg may",
    6: "czerwiec czerwca cze birzelis birzelio bir june jun",
    7: "lipiec lipca lip liepa liepos lie july jul",
    8: "sierpien sierpnia sie rugpjutis rugpjucio rgp august aug",
    9: "wrzesien wrzesnia wrz rugsejis rugsejo rgs september sep sept",
    10: "pazdziernik pazdziernika paz spalis spalio spa october oct",
    11: "listopad listopada lis lapkritis lapkricio lap november nov",
    12: "grudzien grudnia gru gruodis gruodzio grd december dec",
}
MONTHS = {word: n for n, words in _MONTH_WORDS.items() for word in words.split()}
_WORD = re.compile(r"[^\W\d_]+")
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_YMD = re.compile(r"\b(\d{4})[./-](\d{1,2})[./-](\d{1,2})\b")
_DMY = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{4})\b")
# After month names became numbers: "12 11 2026" (pl/en) and "2026 m. 11 12 d." (lt).
_D_M_Y = re.compile(r"\b(\d{1,2})\s+#(\d{1,2})#\s+(\d{4})\b")
_Y_M_D = re.compile(r"\b(\d{4})\s+(?:m\.\s*)?#(\d{1,2})#\s+(\d{1,2})\b")
_M_D_Y = re.compile(r"#(\d{1,2})#\s+(\d{1,2}),?\s+(\d{4})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _numbered(text: str) -> str:
    """``text`` with each month name replaced by ``#<number>#``."""

    def month(match: re.Match[str]) -> str:
        number = MONTHS.get(_fold(match[0]))
        return f"#{number}#" if number else match[0]

    return _WORD.sub(month, text)


def parse_date(
    text: str | None, date_format: str | None = None, *, end_of_day: bool = False
) -> datetime | None:
    """The date in ``text``, or None when there is none.

    ``date_format`` (strptime; ``%B``/``%b`` accept the month names above) is tried
    first, on the whole text; then ISO 8601 anywhere in it; then day-month-year
    forms. A date without a time is midnight UTC, or the day's last second when
    ``end_of_day`` (a "valid until" date includes its day). Naive times are UTC.
    """
    if not text or not text.strip():
        return None
    text = " ".join(text.split())
    found = _with_format(text, date_format) if date_format else None
    if found is None:
        found = _iso(text) or _local(text)
    if found is None:
        return None
    value, has_time = found
    if not has_time and end_of_day:
        value = datetime.combine(value.date(), time(23, 59, 59))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _with_format(text: str, date_format: str) -> tuple[datetime, bool] | None:
    fmt = date_format.replace("%B", "#%m#").replace("%b", "#%m#")
    try:
        value = datetime.strptime(_numbered(text) if fmt != date_format else text, fmt)
    except ValueError:
        return None
    return value, any(d in date_format for d in ("%H", "%I", "%M"))


def _iso(text: str) -> tuple[datetime, bool] | None:
    match = _ISO.search(text)
    if not match:
        return None
    try:
        value = datetime.fromisoformat(match[0].replace("Z", "+00:00"))
    except ValueError:
        return None
    return value, len(match[0]) > 10


def _local(text: str) -> tuple[datetime, bool] | None:
    numbered = _numbered(text)
    for pattern, order in (
        (_YMD, "ymd"),
        (_DMY, "dmy"),
        (_D_M_Y, "dmy"),
        (_Y_M_D, "ymd"),
        (_M_D_Y, "mdy"),
    ):
        match = pattern.search(numbered)
        if not match:
            continue
        parts = dict(zip(order, map(int, match.groups()), strict=True))
        clock = _TIME.search(numbered, match.end())
        hour, minute = (int(clock[1]), int(clock[2])) if clock else (0, 0)
        try:
            value = datetime(parts["y"], parts["m"], parts["d"], hour, minute)
        except ValueError:
            continue
        return value, clock is not None
    return None
