"""DDL of the search index: FTS5 table + triggers (SQLite), tsvector + GIN (PostgreSQL).

Used by migration 0002; owns no data and runs no query of its own. Both engines index
the same three folded fields, split into words the same way (see ``token_class``).
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable

from sqlalchemy.engine import Connection

# Indexed prefix of ``offers.search_text``: keeps a PostgreSQL tsvector far below its
# 1 MB cap and its 16383 positions, and SQLite truncates at the same place (equal
# results on both engines). About 7000 words: no real offer is longer.
MAX_INDEXED_CHARS = 50_000

SQLITE_FTS = "offers_fts"
# FTS5 prefix indexes (lengths in characters): longer prefixes merge doclists.
SQLITE_PREFIX_INDEX = (2, 3)
SQLITE_TRIGGERS = ("offers_fts_ai", "offers_fts_ad", "offers_fts_au")
# Covering indexes for search (filters, sort keys, facets without reading the wide
# offers rows): ~10x on counts and facet counts (bench/README.md). The first one, led
# by id, is what SQLite probes for each FTS5 match.
SEARCH_INDEXES = {
    "ix_offers_search_rows": "id, status, published_at, kind, cluster_id, country, "
    "language, town",
    "ix_offers_search_facets": "status, kind, cluster_id, country, language, "
    "published_at",
}
PG_COLUMN = "search_vector"
# unicode61's default "categories" option: letters, numbers, private use.
_TOKEN_CATEGORIES = frozenset(["Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Co"])
PG_INDEX = "ix_offers_search_vector"


def _ranges(accept: Callable[[str], bool]) -> str:
    """A regex character class body of the code points ``accept`` accepts."""
    out: list[str] = []
    start: int | None = None
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and not 0xD800 <= cp <= 0xDFFF and accept(chr(cp))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            end = cp - 1
            out.append(_escape(start) + ("" if start == end else "-" + _escape(end)))
            start = None
    return "".join(out)


def _escape(cp: int) -> str:
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


@functools.cache
def token_class() -> str:
    """Word characters of FTS5's unicode61 tokenizer: categories L*, N*, Co.

    PostgreSQL replaces everything else by a space before its parser runs, so that
    ``mig/mag``, ``e-mail`` or ``example.com`` split into the same words as in FTS5
    (PostgreSQL's parser would keep them whole), whatever the database's locale.
    """
    return _ranges(lambda c: unicodedata.category(c) in _TOKEN_CATEGORIES)


@functools.cache
def combining_class() -> str:
    """The marks ``hub.text.fold`` drops (``unicodedata.combining(c) != 0``)."""
    return _ranges(lambda c: unicodedata.combining(c) != 0)


# --- SQLite -------------------------------------------------------------------------
# ecoop_fold() is hub.text.fold, registered on every connection by hub.db.make_engine;
# a connection without it cannot write offers (the triggers call it).
#
# External content is ``offers`` itself, and the FTS columns carry its column names,
# but the triggers index *folded* values: never run FTS5 'rebuild' or
# 'integrity-check' with rank 1 (they would read the raw columns); use ``reindex``.
# No view and no trigger of another table may name ``offers``: SQLite refuses to
# rename a table while one does, and Alembic batch mode renames its copy of offers.


def _sqlite_values(row: str) -> str:
    categories = (
        f"coalesce((SELECT group_concat(j.value, ' ') FROM json_each({row}.categories)"
        " j), '')"
    )
    return (
        f"{row}.id, ecoop_fold({row}.title), ecoop_fold({categories}), "
        f"substr({row}.search_text, 1, {MAX_INDEXED_CHARS})"
    )


_SQLITE_COLUMNS = "rowid, title, categories, search_text"
_SQLITE_DELETE = (
    f"INSERT INTO offers_fts(offers_fts, {_SQLITE_COLUMNS}) VALUES ('delete', "
)
_SQLITE_INSERT = f"INSERT INTO offers_fts({_SQLITE_COLUMNS}) VALUES ("


def sqlite_install() -> list[str]:
    """Statements creating the FTS5 index of offers and its sync triggers."""
    return [
        # DESIGN.md: diacritic-blind. Text arrives folded by hub.text.fold already;
        # remove_diacritics 2 is the brief's tokenizer and folds nothing more.
        # prefix='2 3': typed-ahead prefixes of 2-3 letters use a prefix index.
        "CREATE VIRTUAL TABLE offers_fts USING fts5(title, categories, search_text, "
        "content='offers', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2', "
        f"prefix='{' '.join(map(str, SQLITE_PREFIX_INDEX))}')",
        "CREATE TRIGGER offers_fts_ai AFTER INSERT ON offers BEGIN "
        f"{_SQLITE_INSERT}{_sqlite_values('new')}); END",
        "CREATE TRIGGER offers_fts_ad AFTER DELETE ON offers BEGIN "
        f"{_SQLITE_DELETE}{_sqlite_values('old')}); END",
        # Only the indexed columns: touching last_seen_at or status writes no index.
        "CREATE TRIGGER offers_fts_au AFTER UPDATE OF title, categories, search_text "
        f"ON offers BEGIN {_SQLITE_DELETE}{_sqlite_values('old')}); "
        f"{_SQLITE_INSERT}{_sqlite_values('new')}); END",
        *sqlite_reindex(),
        *(f"CREATE INDEX {n} ON offers ({c})" for n, c in SEARCH_INDEXES.items()),
    ]


def sqlite_reindex() -> list[str]:
    """Statements re-indexing every offer (after a bulk load or a table rebuild)."""
    return [
        "INSERT INTO offers_fts(offers_fts) VALUES ('delete-all')",
        f"INSERT INTO offers_fts({_SQLITE_COLUMNS}) SELECT {_sqlite_values('o')} "
        "FROM offers o",
    ]


def sqlite_uninstall() -> list[str]:
    return [
        *(f"DROP INDEX IF EXISTS {n}" for n in SEARCH_INDEXES),
        *(f"DROP TRIGGER IF EXISTS {t}" for t in SQLITE_TRIGGERS),
        "DROP TABLE IF EXISTS offers_fts",
    ]


# --- PostgreSQL ---------------------------------------------------------------------


def pg_install() -> list[str]:
    """Statements creating the fold function, the weighted tsvector column, its GIN
    index and the trigger that fills it in the writing transaction."""
    fold = (
        # hub.text.fold in SQL: its _EXTRA letters, NFKD, drop combining, lower
        # (+ ẞ, which Python's casefold maps to ss and lower() does not).
        "CREATE FUNCTION ecoop_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE "
        "PARALLEL SAFE STRICT AS $$ SELECT lower(regexp_replace(normalize("
        "replace(replace(replace(replace(translate(t, 'łŁđĐøØıħ', 'lLdDoOih'), "
        "'ß', 'ss'), 'ẞ', 'ss'), 'æ', 'ae'), 'Æ', 'AE'), NFKD), "
        f"'[{combining_class()}]+', '', 'g')) $$"
    )
    words = (
        "CREATE FUNCTION ecoop_words(t text) RETURNS text LANGUAGE sql IMMUTABLE "
        "PARALLEL SAFE STRICT AS $$ SELECT regexp_replace(t, "
        f"'[^{token_class()}]+', ' ', 'g') $$"
    )
    # Weights (DESIGN.md ranking): A title, B categories, C search_text (which
    # holds title and categories too, as hub.normalize writes it).
    vector = (
        "CREATE FUNCTION ecoop_search_vector(title text, categories json, body text) "
        "RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
        "setweight(to_tsvector('simple'::regconfig, "
        "ecoop_words(ecoop_fold(coalesce(title, '')))), 'A') || "
        "setweight(to_tsvector('simple'::regconfig, ecoop_words(ecoop_fold("
        "coalesce(CASE WHEN json_typeof(categories) = 'array' THEN (SELECT "
        "string_agg(value, ' ') FROM json_array_elements_text(categories)) END, "
        "'')))), 'B') || "
        "setweight(to_tsvector('simple'::regconfig, "
        f"ecoop_words(left(coalesce(body, ''), {MAX_INDEXED_CHARS}))), 'C') $$"
    )
    # SET search_path FROM CURRENT: the trigger finds these functions in the schema
    # they were created in, whatever the writer's search_path.
    trigger_fn = (
        "CREATE FUNCTION ecoop_offers_search_vector() RETURNS trigger "
        "LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ BEGIN "
        f"NEW.{PG_COLUMN} := ecoop_search_vector(NEW.title, NEW.categories, "
        "NEW.search_text); RETURN NEW; END $$"
    )
    return [
        fold,
        words,
        vector,
        f"ALTER TABLE offers ADD COLUMN {PG_COLUMN} tsvector",
        trigger_fn,
        # Only the indexed columns: touching last_seen_at or status writes no index.
        "CREATE TRIGGER offers_search_vector BEFORE INSERT OR UPDATE OF title, "
        "categories, search_text ON offers FOR EACH ROW "
        "EXECUTE FUNCTION ecoop_offers_search_vector()",
        *pg_reindex(),
        f"ALTER TABLE offers ALTER COLUMN {PG_COLUMN} SET NOT NULL",
        f"CREATE INDEX {PG_INDEX} ON offers USING gin ({PG_COLUMN})",
        # PostgreSQL reads the heap after the GIN scan anyway: only the facets one.
        "CREATE INDEX ix_offers_search_facets ON offers "
        f"({SEARCH_INDEXES['ix_offers_search_facets']})",
    ]


def pg_reindex() -> list[str]:
    return [
        f"UPDATE offers SET {PG_COLUMN} = "
        "ecoop_search_vector(title, categories, search_text)"
    ]


def pg_uninstall() -> list[str]:
    return [
        "DROP INDEX IF EXISTS ix_offers_search_facets",
        "DROP TRIGGER IF EXISTS offers_search_vector ON offers",
        f"DROP INDEX IF EXISTS {PG_INDEX}",
        f"ALTER TABLE offers DROP COLUMN IF EXISTS {PG_COLUMN}",
        "DROP FUNCTION IF EXISTS ecoop_offers_search_vector()",
        "DROP FUNCTION IF EXISTS ecoop_search_vector(text, json, text)",
        "DROP FUNCTION IF EXISTS ecoop_words(text)",
        "DROP FUNCTION IF EXISTS ecoop_fold(text)",
    ]


def install(connection: Connection) -> None:
    """Create the search index for ``connection``'s dialect and index every offer.

    A later migration that rebuilds ``offers`` (SQLite batch mode copies the table and
    so drops its triggers) calls ``uninstall`` before and ``install`` after;
    adding columns or indexes does not rebuild it.
    """
    for statement in _statements(connection, sqlite_install, pg_install):
        connection.exec_driver_sql(statement)


def reindex(connection: Connection) -> None:
    """Index every offer again (after a bulk load that bypassed the triggers)."""
    for statement in _statements(connection, sqlite_reindex, pg_reindex):
        connection.exec_driver_sql(statement)


def uninstall(connection: Connection) -> None:
    for statement in _statements(connection, sqlite_uninstall, pg_uninstall):
        connection.exec_driver_sql(statement)


def _statements(
    connection: Connection,
    sqlite: Callable[[], list[str]],
    pg: Callable[[], list[str]],
) -> list[str]:
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite()
    if name == "postgresql":
        return pg()
    raise NotImplementedError(f"no search index for dialect {name!r}")
