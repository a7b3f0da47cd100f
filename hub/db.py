"""Engine, sessions and migrations for the index.

SQLite by default, PostgreSQL in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from flask import Flask
from flask import current_app
from flask import g
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub.sqlite_checkpoints import Checkpoints
from hub.text import fold

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so the site reads while
    the scheduler writes, and its WAL checkpoints run in a thread of their own
    (hub.sqlite_checkpoints)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        in_memory = engine.url.database in (None, "", ":memory:")
        checkpoints = None if in_memory else Checkpoints(engine)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL's recommended level: a commit is not synced to disk on its own
            # (the checkpoint is), so a power cut may lose the last commits but never
            # corrupts the file, and a commit waits for no disk.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Temporary tables and sorts in memory, not in temporary files: the
            # offers a harvest stages (hub.index._insert), at most 500 rows at a
            # time (a first harvest 3-5 % faster, bench/README.md).
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA busy_timeout=30000")
            if checkpoints is not None:  # run beside the writer, not in its commits
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
            # The search index triggers (migration 0002) fold titles with the very
            # function Python search uses: one fold for both engines (issue 8).
            dbapi_connection.create_function(
                "ecoop_fold", 1, _fold_or_none, deterministic=True
            )

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _fold_or_none(text: str | None) -> str | None:
    return None if text is None else fold(text)


def make_sessionmaker(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def init_app(app: Flask) -> None:
    """One engine per app; one session per request, closed at teardown."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["ecoop.engine"] = engine
    app.extensions["ecoop.sessions"] = make_sessionmaker(engine)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The request's session (opened on first use)."""
    if "db" not in g:
        g.db = current_app.extensions["ecoop.sessions"]()
    return g.db  # type: ignore[no-any-return]


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
