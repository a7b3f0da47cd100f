"""How often a forked child hangs when its garbage collector finalizes a SQLite
connection it inherited while another thread of the parent was inside SQLite: the
hazard connectors.workers avoids (a worker freezes what it inherited first thing,
with collections off from before the fork).

    python -m bench.fork_garbage --forks 300          # as a parsing worker forks now
    python -m bench.fork_garbage --forks 300 --no-freeze

Prints the number of children that had not finished their collection after 3 s
(each is killed by its alarm). Results vary with load: compare both in one run.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sqlite3
import tempfile
import threading
from pathlib import Path


class _Garbage:
    """A reference cycle holding an open SQLite connection, as a discarded engine's
    pool leaves one."""

    def __init__(self, path: Path) -> None:
        self.cycle = self
        self.connection = sqlite3.connect(path)
        self.connection.execute("SELECT 1")


def _write_forever(path: Path, stop: threading.Event) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE IF NOT EXISTS t (x TEXT)")
    while not stop.is_set():
        connection.executemany("INSERT INTO t VALUES (?)", [("x" * 200,)] * 2000)
        connection.commit()
        connection.execute("DELETE FROM t")
        connection.commit()
    connection.close()


def hung_children(forks: int, freeze: bool, directory: Path) -> int:
    stop = threading.Event()
    writer = threading.Thread(
        target=_write_forever, args=(directory / "written.sqlite3", stop)
    )
    writer.start()
    hung = 0
    try:
        for _ in range(forks):
            gc.disable()  # the cycle waits for a collection; and no pass till frozen
            _Garbage(directory / "other.sqlite3")
            pid = os.fork()
            if pid == 0:
                signal.alarm(3)
                if freeze:  # what connectors.workers does, first thing in a worker
                    gc.freeze()
                gc.collect()
                os._exit(0)
            gc.enable()
            gc.collect()
            _, status = os.waitpid(pid, 0)
            hung += os.WIFSIGNALED(status)
    finally:
        stop.set()
        writer.join()
    return hung


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forks", type=int, default=300)
    parser.add_argument("--no-freeze", dest="freeze", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        hung = hung_children(args.forks, args.freeze, Path(directory))
    frozen = "frozen" if args.freeze else "not frozen"
    print(f"{hung} of {args.forks} children hung (inherited objects {frozen})")


if __name__ == "__main__":
    main()
