"""User query text -> a parsed query -> an FTS5 MATCH string or a PostgreSQL tsquery.

Pure: no database. Every term is folded with ``hub.text.fold`` and quoted, so no user
input can reach either engine's query syntax (and nothing here raises on it).

Syntax (issue 8): words are ANDed; ``"a phrase"`` (an unclosed quote runs to the end);
``-word`` / ``-"a phrase"`` excludes; ``word*`` is a prefix anywhere, and the *last*
word of the query is always a prefix (typed-ahead) when it has at least
``MIN_PREFIX`` letters and is neither quoted nor excluded. A word joined by
punctuation (``mig/mag``, ``e-mail``) is a phrase of its parts, as both indexes split
it. Upper-case ``AND``, ``OR``, ``NOT``, ``NEAR`` are dropped: words are always ANDed.
A word (or a quoted phrase) that names a place in the gazetteer also matches every
other name of that place (``Druskienniki`` finds ``Druskininkai``).
"""

from __future__ import annotations

import dataclasses
import re

from hub.places import find_place
from hub.text import fold

MAX_QUERY_CHARS = 500
MAX_CLAUSES = 8
MAX_PHRASE_WORDS = 8
MIN_PREFIX = 2
OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})

# Word characters: letters and digits, as FTS5 unicode61 and hub.search_ddl split.
_WORD = re.compile(r"[^\W_]+")
_LEX = re.compile(r'(?P<neg>-?)(?:"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+))')


@dataclasses.dataclass(frozen=True)
class Term:
    """One folded word, or a phrase of several (``prefix``: the last word may go on)."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclasses.dataclass(frozen=True)
class Clause:
    """Any of its terms (one, or a place and its other names)."""

    terms: tuple[Term, ...]


@dataclasses.dataclass(frozen=True)
class ParsedQuery:
    include: tuple[Clause, ...] = ()
    exclude: tuple[Clause, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


def words(text: str) -> tuple[str, ...]:
    """The folded words of ``text``, split as the indexes split them."""
    return tuple(_WORD.findall(fold(text)))


def parse(text: str) -> ParsedQuery:
    """Parse what a visitor typed; never raises, whatever the input."""
    lexemes = list(_LEX.finditer(text[:MAX_QUERY_CHARS]))
    include: list[Clause] = []
    exclude: list[Clause] = []
    for index, match in enumerate(lexemes):
        negative = bool(match["neg"])
        raw = match["phrase"] if match["phrase"] is not None else match["word"]
        if match["word"] is not None and raw in OPERATORS:
            continue
        quoted = match["phrase"] is not None
        star = not quoted and raw.endswith("*")
        found = words(raw)[:MAX_PHRASE_WORDS]
        if not found:
            continue
        last = index == len(lexemes) - 1
        prefix = len(found) == 1 and (
            star
            or (last and not quoted and not negative and len(found[0]) >= MIN_PREFIX)
        )
        clause = _with_place(raw, Term(found, prefix))
        (exclude if negative else include).append(clause)
    return ParsedQuery(tuple(include[:MAX_CLAUSES]), tuple(exclude[:MAX_CLAUSES]))


def _with_place(raw: str, term: Term) -> Clause:
    """``term``, or ``term`` OR every name of the place it names."""
    place = find_place(raw.rstrip("*"))
    if place is None:
        return Clause((term,))
    names = [Term(w) for w in sorted({words(n) for n in place.search_names()}) if w]
    return Clause((term, *(n for n in names if n != Term(term.words))))


# --- SQLite FTS5 --------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    # Words hold letters and digits only; doubling quotes is belt and braces.
    quoted = '"' + " ".join(term.words).replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def _fts5_clause(clause: Clause) -> str:
    parts = [_fts5_term(t) for t in clause.terms]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def to_fts5(clauses: tuple[Clause, ...]) -> str:
    """An FTS5 MATCH expression: all of ``clauses``."""
    return " AND ".join(_fts5_clause(c) for c in clauses)


def to_fts5_any(clauses: tuple[Clause, ...]) -> str:
    """An FTS5 MATCH expression: any of ``clauses`` (what exclusions remove)."""
    return " OR ".join(_fts5_clause(c) for c in clauses)


# --- PostgreSQL tsquery -------------------------------------------------------------


def _ts_word(word: str, suffix: str = "") -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "'" + suffix


def _ts_term(term: Term) -> str:
    if len(term.words) == 1:
        return _ts_word(term.words[0], ":*" if term.prefix else "")
    # A phrase matches inside the C-weighted search_text only, as in FTS5 a phrase
    # never spans two columns (the weighted parts are concatenated in one vector).
    return "(" + " <-> ".join(_ts_word(w, ":C") for w in term.words) + ")"


def to_tsquery_words(term: Term) -> list[str]:
    """Each word of ``term`` as a tsquery of its own (for the planner's estimates)."""
    return [_ts_word(w, ":*" if term.prefix else "") for w in term.words]


def _ts_clause(clause: Clause) -> str:
    parts = [_ts_term(t) for t in clause.terms]
    return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"


def to_tsquery(clauses: tuple[Clause, ...]) -> str:
    """Text for ``to_tsquery('simple', ...)``: all of ``clauses``."""
    return " & ".join(_ts_clause(c) for c in clauses)


def to_tsquery_words_of(clauses: tuple[Clause, ...]) -> str:
    """Text for ``to_tsquery``: the words of ``clauses`` ANDed, without phrases or
    weights, which a GIN index answers without reading any vector; what ``to_tsquery``
    of ``clauses`` finds, and more."""
    return " & ".join(
        "("
        + " | ".join("(" + " & ".join(to_tsquery_words(t)) + ")" for t in c.terms)
        + ")"
        for c in clauses
    )


def to_tsquery_any(clauses: tuple[Clause, ...]) -> str:
    return " | ".join(_ts_clause(c) for c in clauses)
