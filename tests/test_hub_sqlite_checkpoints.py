"""SQLite's WAL checkpoints run in a thread of the engine's, not in the writer's
commits (hub.sqlite_checkpoints)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db as hub_db
from hub import sqlite_checkpoints

ROWS = 3000
BLOB = 2000  # bytes per row: ~6 MB, past the 1,000 pages SQLite checkpoints at


@pytest.fixture
def index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, sa.Engine]]:
    """A SQLite file and its engine, whose checkpoint thread acts and ends quickly."""
    monkeypatch.setattr(sqlite_checkpoints, "EVERY", 0.05)
    monkeypatch.setattr(sqlite_checkpoints, "IDLE", 0.5)
    path = tmp_path / "index.sqlite3"
    engine = hub_db.make_engine(f"sqlite:///{path}")
    yield path, engine
    engine.dispose()


def eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` holds within 10 s."""
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def wal_frames(path: Path) -> int:
    """Frames the WAL file holds (each a page and its 24-byte header)."""
    wal = path.with_name(path.name + "-wal")
    return max(0, (wal.stat().st_size - 32) // (4096 + 24)) if wal.exists() else 0


def write(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (b BLOB)")
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < ?) INSERT INTO t SELECT randomblob(?) FROM n",
            (ROWS, BLOB),
        )


def test_a_commit_leaves_the_checkpoint_to_the_engines_thread(
    index: tuple[Path, sa.Engine],
) -> None:
    path, engine = index
    write(engine)
    # The commit returned with its pages in the WAL only: the file has not grown.
    assert path.stat().st_size < ROWS * BLOB / 4
    assert wal_frames(path) > 1000
    # Copied by the thread, soon after.
    assert eventually(lambda: path.stat().st_size >= ROWS * BLOB)
    with engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
    assert count == ROWS


def commit_for(engine: sa.Engine, seconds: float, path: Path) -> list[int]:
    """Small commits every 20 ms for ``seconds``; the database file's size after
    each."""
    sizes = []
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS s (b BLOB)")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO s VALUES (randomblob(5000))")
        sizes.append(path.stat().st_size)
        time.sleep(0.02)
    return sizes


def test_a_checkpoint_waits_for_the_commits_to_pause(
    index: tuple[Path, sa.Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy writer keeps the machine to itself: nothing is copied while its
    commits follow each other closer than EVERY."""
    monkeypatch.setattr(sqlite_checkpoints, "EVERY", 1.0)
    path, engine = index
    sizes = commit_for(engine, 1.0, path)
    assert len(sizes) > 20
    assert sizes[-1] == sizes[0]  # the file did not grow: all in the WAL
    assert eventually(lambda: path.stat().st_size > 20 * 5000)  # once they paused


def test_a_writer_that_never_pauses_still_gets_checkpoints(
    index: tuple[Path, sa.Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "EVERY", 0.3)
    monkeypatch.setattr(sqlite_checkpoints, "LATEST", 0.4)
    path, engine = index
    sizes = commit_for(engine, 1.5, path)
    assert sizes[-1] > sizes[0]  # copied while the commits went on


def test_the_thread_ends_when_commits_stop_and_the_next_commit_starts_one(
    index: tuple[Path, sa.Engine],
) -> None:
    path, engine = index
    write(engine)
    assert threads(path) == 1
    assert eventually(lambda: threads(path) == 0)
    write(engine)
    assert threads(path) == 1


def threads(path: Path) -> int:
    """The checkpoint threads of the database at ``path``."""
    return sum(t.name == f"sqlite-checkpoints {path}" for t in threading.enumerate())
