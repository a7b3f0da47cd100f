"""Python's garbage collector in a long-running hub process.

A started hub holds ~130,000 container objects from start-up alone (SQLAlchemy,
Flask, the connectors with extruct's rdflib and pygments). They live as long as the
process, yet each full collection walks them all: 70-115 ms on the benchmark machine,
paid by whichever search or harvest write allocated at that moment (bench/README.md,
"Thirteenth session"). ``settle`` takes them out of the collector's sight once
start-up is done; ``Pauses`` counts what the collector still costs.

Parsing workers (connectors.workers) freeze in the child only, so a fork leaves
what the parent settled frozen.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect start-up's garbage, then freeze what is left (``gc.freeze``): every
    later collection, full ones included, skips it. Call once a process has loaded
    what it keeps (the app, the harvester), before its first request or tick.

    Returns:
        How many objects are now frozen.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%d start-up objects frozen out of the collector", frozen)
    return frozen


class Pauses:
    """The collector's passes while installed (``with Pauses() as pauses``): how
    many of each generation, and their time. Measures; changes nothing."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def _on_pass(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.counts[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started

    def __str__(self) -> str:
        return ", ".join(
            f"gen {generation}: {count} in {seconds * 1000:.1f} ms"
            for generation, (count, seconds) in enumerate(
                zip(self.counts, self.seconds, strict=True)
            )
        )

    def __enter__(self) -> Pauses:
        gc.callbacks.append(self._on_pass)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._on_pass)  # equal bound methods
