"""hub.collector: start-up objects frozen out of the collector, its passes counted."""

from __future__ import annotations

import gc

from hub import collector


class _Cycle:
    finalized = 0

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.finalized += 1


def test_settle_collects_start_up_garbage_then_freezes_the_rest() -> None:
    _Cycle.finalized = 0
    kept = _Cycle()  # alive at the end of start-up: frozen
    gc.disable()
    try:
        _Cycle()  # start-up's garbage: collected, not kept forever
        frozen = collector.settle()
        assert _Cycle.finalized == 1
        assert frozen > 0
        tracked = [id(o) for o in gc.get_objects()]  # what collections still walk
        assert id(kept) not in tracked
    finally:
        gc.unfreeze()
        gc.enable()
    assert id(kept) in [id(o) for o in gc.get_objects()]


def test_pauses_counts_the_passes_while_installed() -> None:
    with collector.Pauses() as pauses:
        gc.collect()
        gc.collect(0)
    gc.collect()  # after: not counted
    assert pauses.counts[2] == 1
    assert pauses.counts[0] >= 1
    assert pauses.seconds[2] > 0
