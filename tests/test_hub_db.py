"""hub.db.make_engine: what every SQLite connection is set to."""

from __future__ import annotations

from pathlib import Path

from hub import db as hub_db


def test_sqlite_connections_are_set_for_one_writer_beside_readers(
    tmp_path: Path,
) -> None:
    engine = hub_db.make_engine(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",  # readers never wait for the writer
                    "synchronous",  # 1: NORMAL, WAL's level
                    "foreign_keys",
                    "busy_timeout",
                    "wal_autocheckpoint",  # 0: hub.sqlite_checkpoints' thread
                    "temp_store",  # 2: MEMORY, the harvest's staged offers
                )
            }
            folded = conn.exec_driver_sql("SELECT ecoop_fold('Łódź')").scalar()
    finally:
        engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "wal_autocheckpoint": 0,
        "temp_store": 2,
    }
    assert folded == "lodz"
