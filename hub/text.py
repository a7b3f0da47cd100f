"""Text helpers shared by normalising and searching: folding, HTML to text, sanitising.

Pure: no network, no database, no clock.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import unicodedata
from collections.abc import Callable
from html import unescape
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

import nh3


def char_class(accept: Callable[[str], bool], stop: int = sys.maxunicode + 1) -> str:
    """A regex character class body (``\\uXXXX`` ranges) of the code points below
    ``stop`` that ``accept`` accepts; Python's ``re`` and PostgreSQL read it alike."""
    out: list[str] = []
    start: int | None = None
    for cp in range(stop + 1):
        inside = cp < stop and not 0xD800 <= cp <= 0xDFFF and accept(chr(cp))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            end = cp - 1
            out.append(_escape(start) + ("" if start == end else "-" + _escape(end)))
            start = None
    return "".join(out)


def _escape(cp: int) -> str:
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


# Letters NFKD does not decompose (ł is a letter of its own, not l + accent), replaced
# one by one: str.replace skips a string without the letter at C speed, where
# str.translate with a mapping looks up every character (fold runs on every offer).
_EXTRA = (
    ("ł", "l"),
    ("Ł", "L"),
    ("đ", "d"),
    ("Đ", "D"),
    ("ø", "o"),
    ("Ø", "O"),
    ("ß", "ss"),
    ("æ", "ae"),
    ("Æ", "AE"),
    ("ı", "i"),
    ("ħ", "h"),
)
# Combining marks of the Basic Multilingual Plane, dropped after NFKD.
_COMBINING = re.compile(
    f"[{char_class(lambda c: unicodedata.combining(c) != 0, 0x10000)}]+"
)
# The marks NFKD leaves of the accented letters of Polish, Lithuanian and their
# neighbours, most frequent first: dropped with str.replace before _COMBINING, whose
# sub makes a match of every accented letter (15 us on an offer, 4 this way).
_MARKS = (
    "\u0301\u0328\u0307\u030c\u0304\u0300\u0302\u0303\u0308\u030a\u0327\u0306\u030b"
)

ALLOWED_TAGS = {
    "div",
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


def fold(text: str) -> str:
    """Case- and accent-blind form for search.

    ``fold("Łódź Spółka")`` is ``"lodz spolka"``.
    """
    if not text.isascii():  # (an ASCII text has nothing to fold but its case)
        for letter, plain in _EXTRA:
            if letter in text:
                text = text.replace(letter, plain)
        text = unicodedata.normalize("NFKD", text)
        if not text.isascii():
            text = _drop_marks(text)
    return text.casefold()


def _drop_marks(text: str) -> str:
    """``text`` without its combining marks (those _COMBINING matches)."""
    for mark in _MARKS:
        if mark in text:
            text = text.replace(mark, "")
            if text.isascii():  # (a flag of the string: no scan)
                return text
    return _COMBINING.sub("", text)


# The sanitiser, built once: nh3.clean builds its rules anew on every call, 3x the
# time of cleaning an offer's body with rules built before (19-26 -> 6-7 us).
_SANITISER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes={"a": {"href", "title"}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener nofollow ugc",
)


def sanitize_html(html: str) -> str:
    """Sanitize HTML from a feed.

    Keep structure and links, drop scripts, styles, handlers and unsafe URL schemes.
    """
    return _SANITISER.clean(html).strip()


# Elements whose edges separate words; any other tag joins its neighbours.
_BLOCKS = {"p", "li", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th"}
_BLOCK_TAG = re.compile(rf"</?(?:{'|'.join(sorted(_BLOCKS))})\b[^>]*>", re.IGNORECASE)
_TEXT_TAGS = ALLOWED_TAGS | _BLOCKS
_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')  # nh3 quotes every attribute with "
_TEXT_CLEANER = nh3.Cleaner(tags=_TEXT_TAGS)  # nh3's defaults otherwise


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed; script and style
    content is not text."""
    if "<" not in html and "&" not in html:
        return squash(html)
    return clean_html_to_text(_TEXT_CLEANER.clean(html))


def clean_html_to_text(html: str) -> str:
    """``html_to_text`` of what ``nh3.clean`` made (``sanitize_html``): every ``<``
    and ``>`` left in it bounds a tag, so tags are found by pattern, at regex speed
    (lxml parses a body in 2.5x the time: normalising runs on every offer)."""
    return squash(unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", html))))


# The start of most http(s) URLs: a plain host that urlsplit takes for the netloc.
_HTTP_HOST = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#]|\Z)")


def is_http_url(url: str | None) -> bool:
    """True for an absolute http(s) URL: the only links the site renders as links."""
    if not url:
        return False
    url = url.strip()
    if _HTTP_HOST.match(url):  # (4 us to split it, 0.4 to match this)
        return True
    parts = urlsplit(url)
    return parts.scheme.lower() in {"http", "https"} and bool(parts.netloc)


_T = TypeVar("_T")


def without_nul(value: _T) -> _T:
    """``value`` with no NUL character (U+0000) in its strings, which PostgreSQL's
    text cannot hold: one in a JSON Feed item's title failed the whole harvest of its
    source there ("text fields cannot contain NUL"), while SQLite stored it. Strings
    and the tuples, lists, dicts and dataclasses holding them; ``value`` itself when
    it holds none (checked without a copy)."""
    return _without_nul(value) if _holds_nul(value) else value


def _holds_nul(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return "\x00" in value
    if kind is tuple or kind is list:
        return any(_holds_nul(v) for v in value)
    if kind is dict:
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if hasattr(kind, "__dataclass_fields__"):
        return any(_holds_nul(v) for v in vars(value).values())
    return False


def _without_nul(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "")
    if kind is tuple or kind is list:
        return kind(_without_nul(v) for v in value)
    if kind is dict:
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if hasattr(kind, "__dataclass_fields__"):
        fields = {k: _without_nul(v) for k, v in vars(value).items()}
        return dataclasses.replace(value, **fields)
    return value


def squash(text: str) -> str:
    """Whitespace runs collapsed to one space, none at the ends. ``str.split``
    splits where ``\\s`` matches (both ask ``str.isspace``), at 4x the speed of a
    regex substitution on an offer's body."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word if one is near,
    with an ellipsis when it was cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"
