"""PostgreSQL's search vector of a new offer, built in Python where the harvest
prepares it, so the database casts a literal instead of computing it.

PostgreSQL's trigger (hub.search_ddl, version 4) computes ``ecoop_search_vector``
for every offer written without a vector: folding and splitting in SQL, then
``to_tsvector``'s parser, 80-90 % of a first harvest's writing time on PostgreSQL
(bench/README.md). ``text_vector`` gives the same vector (a test compares them) for
the offers whose folded words are plain ASCII letters and digits, which that parser
reads one word to one lexeme; for any other it gives None and the trigger computes
it. Pure: no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hub.search_ddl import MAX_INDEXED_CHARS
from hub.search_ddl import PG_FILTER_LEXEMES
from hub.search_ddl import token_class
from hub.text import fold

_ASCII_WORD = re.compile(r"[a-z0-9]+")  # a word of folded ASCII text
_WORD = re.compile(f"[{token_class()}]+")  # ecoop_words' words
# Digits, e, digits, then a letter: PostgreSQL's parser reads "1e5x" as the number
# "1e5" and the word "x". Every other ASCII word of letters and digits is one
# lexeme (fuzzed over 17,000 words in tests/test_hub_pg_writes.py).
_SPLIT_BY_PARSER = re.compile(r"\d+e\d+[a-z]")
_MAX_POSITION = 16383  # to_tsvector clamps later positions to this one
_MAX_POSITIONS = 255  # per lexeme; to_tsvector drops the rest
_MAX_WORD = 2047  # bytes; to_tsvector skips longer words
# Each position as the literal writes it ("12C"), made once: formatting each word's
# took a fifth of the build. An offer of more words formats the rest as it goes.
_LABELS = {w: tuple(f"{p}{w}" for p in range(2048)) for w in "ABC"}


def text_vector(
    title: str,
    organisation: str | None,
    categories: Iterable[str],
    search_text: str,
) -> str | None:
    """The weighted words of an offer (title A, organisation and categories B,
    ``search_text``, folded already, C) as a ``tsvector`` literal: what
    ``ecoop_search_vector`` gives without its filter lexemes. None when the
    database must compute it (a word that is not plain ASCII, or the limits of
    ``to_tsvector`` reached)."""
    parts = (
        (fold(title), "A"),
        (fold(organisation or ""), "B"),
        (fold(" ".join(categories)), "B"),
        (search_text[:MAX_INDEXED_CHARS], "C"),
    )
    positions: dict[str, list[str]] = {}
    last = 0  # each part's positions follow the last of the parts before (||)
    for text, weight in parts:
        if text.isascii():
            words = _ASCII_WORD.findall(text)
        else:  # ASCII words between other signs ("–", "„", "±"), or not
            words = _WORD.findall(text)
            if not all(word.isascii() for word in words):
                return None
        end = last + len(words)
        if end > _MAX_POSITION:
            return None
        labels = _LABELS[weight]
        if end >= len(labels):
            labels = labels + tuple(f"{p}{weight}" for p in range(len(labels), end + 1))
        for position, word in enumerate(words, last + 1):
            at = positions.get(word)
            if at is None:
                positions[word] = [labels[position]]
            else:
                at.append(labels[position])
        last = end
    lexemes = []
    for word, at in positions.items():
        if len(at) > _MAX_POSITIONS or len(word) > _MAX_WORD:
            return None
        if word[0].isdigit() and _SPLIT_BY_PARSER.match(word):
            return None
        lexemes.append(f"'{word}':{','.join(at)}")
    return " ".join(lexemes)


def vector(text: str | None, kind: Any, language: Any, country: Any) -> str | None:
    """``text_vector``'s literal with the offer's filter lexemes (search_ddl's
    PG_FILTER_LEXEMES, no positions), or None when ``text`` is. The columns' values
    are strings or None."""
    if text is None:
        return None
    values = {"kind": kind, "language": language, "country": country}
    filters = [
        _quoted(prefix + str(value))
        for column, prefix in PG_FILTER_LEXEMES.items()
        if (value := values[column]) is not None
    ]
    return " ".join([text, *filters]) if text else " ".join(filters)


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
