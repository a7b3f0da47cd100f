"""The memory a harvest really takes: this process and its parsing workers, sampled.

RSS counts a forked worker's pages shared with the harvester twice (ru_maxrss of the
children says 340 MB for a worker that holds ~130 MB of its own). PSS divides each
shared page between the processes that map it, so the processes' PSS add up to what
the machine gives them. Sampled every ``interval`` seconds from
``/proc/<pid>/smaps_rollup``: a peak shorter than that may be missed.
"""

from __future__ import annotations

import threading
from types import TracebackType

from connectors.bounded import WORKERS


class Footprint:
    """``with Footprint():`` the peak of the processes' PSS added up, and the peak
    of the workers' private memory."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_total = 0  # kB: the harvester's PSS and its workers', together
        self.peak_worker_private = 0  # kB: one worker's pages of its own
        self.samples = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Footprint:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def __str__(self) -> str:
        return (
            f"harvester and workers together (PSS) at most "
            f"{self.peak_total / 1024:.0f} MB; a worker's own pages at most "
            f"{self.peak_worker_private / 1024:.0f} MB ({self.samples} samples)"
        )

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            total = _rollup("self").get("Pss", 0)
            for pid in WORKERS.pids():
                rollup = _rollup(str(pid))
                total += rollup.get("Pss", 0)
                private = rollup.get("Private_Clean", 0) + rollup.get(
                    "Private_Dirty", 0
                )
                self.peak_worker_private = max(self.peak_worker_private, private)
            self.peak_total = max(self.peak_total, total)
            self.samples += 1


def _rollup(pid: str) -> dict[str, int]:
    """The kB figures of ``/proc/<pid>/smaps_rollup``; empty once it has exited."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            lines = rollup.read().splitlines()[1:]
    except OSError:
        return {}
    figures = {}
    for line in lines:
        name, _, value = line.partition(":")
        figures[name] = int(value.split()[0])
    return figures
