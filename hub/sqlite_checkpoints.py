"""SQLite's WAL checkpoints, run beside the writer rather than inside its commits.

By default the connection whose commit takes the WAL past 1,000 pages copies them
into the database file and syncs it, there and then: during a first harvest those
syncs were ~0.7 s of the writer's 1.0-1.2 s in commits per 10,000 offers
(bench/harvest.py), and the writer is the one thread every batch waits for. Here
no connection checkpoints on commit (``PRAGMA wal_autocheckpoint=0``, set by
hub.db); a thread of the engine's does, on a connection of its own (SQLite's
documented alternative: "a separate thread or process" running the checkpoints,
sqlite.org/wal.html#ckpt), once the commits pause for ``EVERY`` seconds, or at the
latest ``LATEST`` seconds after the first commit it copies: a busy writer does not
share the machine with a checkpoint (~50 ms of CPU each during a first harvest of
10,000 offers, on a 2-core machine), and the WAL stays bounded while it writes.

PASSIVE checkpoints never wait for a reader or a writer, nor make one wait; what a
reader still uses is copied by a later one. A process that ends with frames in the
WAL leaves nothing lost: the last connection to close checkpoints, and the next to
open reads the WAL.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

import sqlalchemy as sa

log = logging.getLogger(__name__)

EVERY = 0.5  # seconds without a commit before a checkpoint
LATEST = 5.0  # seconds after the first commit it copies, however busy the writer
IDLE = 10.0  # seconds without a commit before the thread ends (the next starts one)


class Checkpoints:
    """The checkpoint thread of one engine, woken by its commits."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = weakref.ref(engine)  # the thread never keeps it alive
        self._due = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._name = f"sqlite-checkpoints {engine.url.database}"
        sa.event.listen(engine, "commit", self.committed)

    def committed(self, _connection: object = None) -> None:
        self._due.set()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self._name, daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._due.wait(IDLE):
                with self._lock:
                    if not self._due.is_set():  # no commit raced the timeout
                        self._thread = None
                        return
            self._wait_for_a_pause()
            engine = self._engine()
            if engine is None:  # disposed of and collected
                return
            checkpoint(engine)
            del engine

    def _wait_for_a_pause(self) -> None:
        """Until the commits pause for EVERY seconds, or LATEST seconds pass."""
        latest = time.monotonic() + LATEST
        while True:
            self._due.clear()
            left = latest - time.monotonic()
            if left <= 0 or not self._due.wait(min(EVERY, left)):
                return


def checkpoint(engine: sa.Engine) -> None:
    """One PASSIVE checkpoint; a failure is logged, the next commit's checkpoint
    tries again."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
    except sa.exc.SQLAlchemyError:
        log.warning("WAL checkpoint of %s failed", engine.url, exc_info=True)
