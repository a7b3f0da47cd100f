"""DDL of the search index: FTS5 table + triggers (SQLite), tsvector + GIN (PostgreSQL).

Used by migration 0002; owns no data and runs no query of its own. Both engines index
the same three folded fields, split into words the same way (see ``token_class``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from functools import partial

from sqlalchemy.engine import Connection

from hub.text import char_class

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


@functools.cache
def token_class() -> str:
    """Word characters of FTS5's unicode61 tokenizer: categories L*, N*, Co.

    PostgreSQL replaces everything else by a space before its parser runs, so that
    ``mig/mag``, ``e-mail`` or ``example.com`` split into the same words as in FTS5
    (PostgreSQL's parser would keep them whole), whatever the database's locale.
    """
    return char_class(lambda c: unicodedata.category(c) in _TOKEN_CATEGORIES)


@functools.cache
def combining_class() -> str:
    """The marks ``hub.text.fold`` drops (``unicodedata.combining(c) != 0``)."""
    return char_class(lambda c: unicodedata.combining(c) != 0)


# --- SQLite -------------------------------------------------------------------------
# ecoop_fold() is hub.text.fold, registered on every connection by hub.db.make_engine;
# a connection without it cannot write offers (the triggers call it).
#
# External content is ``offers`` itself, and the FTS columns carry its column names,
# but the triggers index *folded* values: never run FTS5 'rebuild' or
# 'integrity-check' with rank 1 (they would read the raw columns); use ``reindex``.
# No view and no trigger of another table may name ``offers``: SQLite refuses to
# rename a table while one does, and Alembic batch mode renames its copy of offers.


# Versions of the text index, each a migration's: 0002 created version 1 (title,
# categories, body); 0009 added the organisation's name (version 2: ranked between
# title and categories); 0014 added the filter lexemes to PostgreSQL's vector (version
# 3, below; SQLite's index is version 2's); 0015 let PostgreSQL keep the vector a new
# offer is written with (version 4: hub.pg_vector). A migration names its version, so
# changing the latest never changes what an older migration does.
VERSION = 4


def _sqlite_fields(row: str, version: int) -> dict[str, str]:
    """FTS5 column -> the value indexed for the offer ``row`` (new, old or o)."""
    categories = (
        f"coalesce((SELECT group_concat(j.value, ' ') FROM json_each({row}.categories)"
        " j), '')"
    )
    fields = {"title": f"ecoop_fold({row}.title)"}
    if version >= 2:
        fields["organisation_name"] = (
            f"ecoop_fold(coalesce({row}.organisation_name, ''))"
        )
    fields["categories"] = f"ecoop_fold({categories})"
    fields["search_text"] = f"substr({row}.search_text, 1, {MAX_INDEXED_CHARS})"
    return fields


def _sqlite_rows(version: int) -> tuple[str, str, str]:
    """The column list, and the 'delete' and insert statement heads, of ``version``."""
    columns = "rowid, " + ", ".join(_sqlite_fields("new", version))
    delete = f"INSERT INTO offers_fts(offers_fts, {columns}) VALUES ('delete', "
    return columns, delete, f"INSERT INTO offers_fts({columns}) VALUES ("


def _sqlite_values(row: str, version: int) -> str:
    return ", ".join([f"{row}.id", *_sqlite_fields(row, version).values()])


def _sqlite_text_index(version: int) -> list[str]:
    """The FTS5 table and the triggers that keep it in the writing transaction."""
    _, delete, insert = _sqlite_rows(version)
    fields = ", ".join(_sqlite_fields("new", version))
    return [
        # DESIGN.md: diacritic-blind. Text arrives folded by hub.text.fold already;
        # remove_diacritics 2 is the brief's tokenizer and folds nothing more.
        # prefix='2 3': typed-ahead prefixes of 2-3 letters use a prefix index.
        f"CREATE VIRTUAL TABLE offers_fts USING fts5({fields}, "
        "content='offers', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2', "
        f"prefix='{' '.join(map(str, SQLITE_PREFIX_INDEX))}')",
        "CREATE TRIGGER offers_fts_ai AFTER INSERT ON offers BEGIN "
        f"{insert}{_sqlite_values('new', version)}); END",
        "CREATE TRIGGER offers_fts_ad AFTER DELETE ON offers BEGIN "
        f"{delete}{_sqlite_values('old', version)}); END",
        # Only the indexed columns: touching last_seen_at or status writes no index.
        f"CREATE TRIGGER offers_fts_au AFTER UPDATE OF {fields} "
        f"ON offers BEGIN {delete}{_sqlite_values('old', version)}); "
        f"{insert}{_sqlite_values('new', version)}); END",
    ]


def _sqlite_drop_text_index() -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS {t}" for t in SQLITE_TRIGGERS),
        "DROP TABLE IF EXISTS offers_fts",
    ]


def sqlite_install(version: int = VERSION) -> list[str]:
    """Statements creating the FTS5 index of offers and its sync triggers."""
    return [
        *_sqlite_text_index(version),
        *sqlite_reindex(version),
        *(f"CREATE INDEX {n} ON offers ({c})" for n, c in SEARCH_INDEXES.items()),
    ]


def sqlite_reindex(version: int = VERSION) -> list[str]:
    """Statements re-indexing every offer (after a bulk load or a table rebuild)."""
    columns, _, _ = _sqlite_rows(version)
    return [
        "INSERT INTO offers_fts(offers_fts) VALUES ('delete-all')",
        f"INSERT INTO offers_fts({columns}) SELECT {_sqlite_values('o', version)} "
        "FROM offers o",
    ]


def sqlite_uninstall() -> list[str]:
    return [
        *(f"DROP INDEX IF EXISTS {n}" for n in SEARCH_INDEXES),
        *_sqlite_drop_text_index(),
    ]


# --- PostgreSQL ---------------------------------------------------------------------


def pg_install(version: int = VERSION) -> list[str]:
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
    return [
        fold,
        words,
        f"ALTER TABLE offers ADD COLUMN {PG_COLUMN} tsvector",
        *_pg_text_index(version),
        *pg_reindex(version),
        f"ALTER TABLE offers ALTER COLUMN {PG_COLUMN} SET NOT NULL",
        f"CREATE INDEX {PG_INDEX} ON offers USING gin ({PG_COLUMN})",
        # PostgreSQL reads the heap after the GIN scan anyway: only the facets one.
        "CREATE INDEX ix_offers_search_facets ON offers "
        f"({SEARCH_INDEXES['ix_offers_search_facets']})",
    ]


# The indexed columns of offers and the SQL type of each, by version.
_PG_FIELDS = {
    1: {"title": "text", "categories": "json", "search_text": "text"},
    2: {
        "title": "text",
        "organisation_name": "text",
        "categories": "json",
        "search_text": "text",
    },
    3: {
        "title": "text",
        "organisation_name": "text",
        "categories": "json",
        "search_text": "text",
        "kind": "text",
        "language": "text",
        "country": "text",
    },
}
_PG_FIELDS[4] = _PG_FIELDS[3]  # the same vector; a new offer may come with it
# Version 3: the vector also holds a lexeme per filter column (its prefix, then the
# value), so a filtered search asks the GIN index for its filters with its words and
# reads only the rows that pass them (hub.search_engines; bench/README.md). No folded
# word holds '~' or ':' (ecoop_words), so no typed word is one of these.
PG_FILTER_LEXEMES = {"kind": "~k:", "language": "~l:", "country": "~c:"}


def pg_filter_tsquery(filters: Iterable[tuple[str, tuple[str, ...]]]) -> str | None:
    """A tsquery (its text, for a ``::tsquery`` cast) of the filter lexemes of
    ``filters``, pairs of a column of PG_FILTER_LEXEMES and the values it may hold:
    any value of each, all pairs. None when there is nothing to ask."""
    clauses = []
    for column, options in filters:
        lexemes = [
            _tsquery_lexeme(PG_FILTER_LEXEMES[column] + value)
            for value in options
            # a longer value is in no row (and no tsquery takes it): the filter's
            # own condition finds nothing, with no help from the index
            if value and len(value.encode()) < _MAX_FILTER_VALUE
        ]
        if len(lexemes) != len(options):
            continue
        clauses.append(lexemes[0] if len(lexemes) == 1 else f"({' | '.join(lexemes)})")
    return " & ".join(clauses) or None


_MAX_FILTER_VALUE = 200  # bytes; the widest filter column (kind) holds 32 characters


def _tsquery_lexeme(text: str) -> str:
    """``text`` as one quoted lexeme of tsquery's input syntax."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_text_index(version: int) -> list[str]:
    """The vector function, and the trigger that fills the column with it."""
    fields = _PG_FIELDS[version]

    def part(expression: str, weight: str) -> str:
        return f"setweight(to_tsvector('simple'::regconfig, {expression}), '{weight}')"

    categories = (
        "ecoop_words(ecoop_fold(coalesce(CASE WHEN json_typeof(categories) = 'array' "
        "THEN (SELECT string_agg(value, ' ') FROM json_array_elements_text("
        "categories)) END, '')))"
    )
    # Weights (DESIGN.md ranking): A title, B organisation and categories, C
    # search_text (which holds all of them too, as hub.normalize writes it).
    parts = [part("ecoop_words(ecoop_fold(coalesce(title, '')))", "A")]
    if "organisation_name" in fields:
        organisation = "ecoop_words(ecoop_fold(coalesce(organisation_name, '')))"
        parts.append(part(organisation, "B"))
    parts.append(part(categories, "B"))
    body = f"ecoop_words(left(coalesce(search_text, ''), {MAX_INDEXED_CHARS}))"
    parts.append(part(body, "C"))
    filters = [
        f"'{PG_FILTER_LEXEMES[c]}' || {c}" for c in PG_FILTER_LEXEMES if c in fields
    ]
    if filters:
        # No positions and no weight: no phrase and no ranking sees them. A NULL
        # column gives no lexeme (array_to_tsvector refuses NULLs).
        parts.append(
            f"array_to_tsvector(array_remove(ARRAY[{', '.join(filters)}], NULL))"
        )
    arguments = ", ".join(f"{name} {kind}" for name, kind in fields.items())
    vector = (
        f"CREATE FUNCTION ecoop_search_vector({arguments}) RETURNS tsvector "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {' || '.join(parts)} $$"
    )
    return [
        vector,
        _pg_trigger_function(version),
        # Only the indexed columns: touching last_seen_at or status writes no index.
        f"CREATE TRIGGER offers_search_vector BEFORE INSERT OR UPDATE OF "
        f"{', '.join(fields)} ON offers FOR EACH ROW "
        "EXECUTE FUNCTION ecoop_offers_search_vector()",
    ]


def _pg_trigger_function(version: int, replace: bool = False) -> str:
    """The trigger's function: the vector of the offer's columns, and from version
    4 on, a new offer's own vector when it comes with one (hub.pg_vector)."""
    fields = _PG_FIELDS[version]
    kept = (
        f"IF TG_OP = 'INSERT' AND NEW.{PG_COLUMN} IS NOT NULL THEN RETURN NEW; END IF; "
        if version >= 4
        else ""
    )
    # SET search_path FROM CURRENT: the trigger finds these functions in the schema
    # they were created in, whatever the writer's search_path.
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION "
        "ecoop_offers_search_vector() RETURNS trigger "
        "LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ BEGIN "
        f"{kept}NEW.{PG_COLUMN} := ecoop_search_vector("
        f"{', '.join(f'NEW.{name}' for name in fields)}); RETURN NEW; END $$"
    )


def _pg_drop_text_index() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS offers_search_vector ON offers",
        "DROP FUNCTION IF EXISTS ecoop_offers_search_vector()",
        *(
            f"DROP FUNCTION IF EXISTS ecoop_search_vector({', '.join(fields.values())})"
            for fields in _PG_FIELDS.values()
        ),
    ]


def pg_reindex(version: int = VERSION) -> list[str]:
    return [
        f"UPDATE offers SET {PG_COLUMN} = "
        f"ecoop_search_vector({', '.join(_PG_FIELDS[version])})"
    ]


def pg_uninstall() -> list[str]:
    return [
        "DROP INDEX IF EXISTS ix_offers_search_facets",
        *_pg_drop_text_index(),
        f"DROP INDEX IF EXISTS {PG_INDEX}",
        f"ALTER TABLE offers DROP COLUMN IF EXISTS {PG_COLUMN}",
        "DROP FUNCTION IF EXISTS ecoop_words(text)",
        "DROP FUNCTION IF EXISTS ecoop_fold(text)",
    ]


def install(connection: Connection, version: int = VERSION) -> None:
    """Create the search index for ``connection``'s dialect and index every offer.

    A later migration that rebuilds ``offers`` (SQLite batch mode copies the table and
    so drops its triggers) calls ``uninstall`` before and ``install`` after, with its
    own version; adding columns or indexes does not rebuild it.
    """
    _run(connection, partial(sqlite_install, version), partial(pg_install, version))


def rebuild_text_index(connection: Connection, version: int) -> None:
    """Replace the text index by ``version``'s and index every offer again (the
    covering indexes and PostgreSQL's GIN index stay)."""
    _run(
        connection,
        lambda: [
            *_sqlite_drop_text_index(),
            *_sqlite_text_index(version),
            *sqlite_reindex(version),
        ],
        lambda: [
            *_pg_drop_text_index(),
            *_pg_text_index(version),
            *pg_reindex(version),
        ],
    )


def replace_trigger_function(connection: Connection, version: int) -> None:
    """PostgreSQL: the trigger's function of ``version``, the vector unchanged (no
    offer indexed again). SQLite's index has no such function: nothing to do."""
    _run(connection, lambda: [], lambda: [_pg_trigger_function(version, replace=True)])


def reindex(connection: Connection, version: int = VERSION) -> None:
    """Index every offer again (after a bulk load that bypassed the triggers)."""
    _run(connection, partial(sqlite_reindex, version), partial(pg_reindex, version))


def uninstall(connection: Connection) -> None:
    _run(connection, sqlite_uninstall, pg_uninstall)


def _run(
    connection: Connection,
    sqlite: Callable[[], list[str]],
    pg: Callable[[], list[str]],
) -> None:
    for statement in _statements(connection, sqlite, pg):
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
