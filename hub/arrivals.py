"""Outcomes on their way from the fetch threads to the writer (``Harvester.run``).

The fetch threads put each source's outcome as it is done; the writer takes them
when there is work for it, not at each one: a new document to write at once, or
outcomes with nothing to write (a 304, the same bytes, an error), which are
written together, at most LIGHT_BATCH of them, at most LIGHT_WAIT seconds after
the first arrived, or when the last outcome is in. An unchanged harvest is mostly
such outcomes: the writer wakes once for them all, and the fetch threads never wait
for it to give back the interpreter between two fetches.
"""

from __future__ import annotations

import threading
import time

from hub.recording import Outcome

LIGHT_BATCH, LIGHT_WAIT = 100, 1.0


class Arrivals:
    """The outcomes of ``expected`` sources, put by the fetch threads, taken by one
    writer. An exception a fetch thread lets through is put too, and raised to the
    writer."""

    def __init__(self, expected: int) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._left = expected  # not yet put
        self._heavy: list[Outcome] = []
        self._light: list[Outcome] = []
        self._failure: BaseException | None = None
        self._since: float | None = None  # when the first light outcome waiting came

    @property
    def left(self) -> int:
        """Outcomes not yet taken (put or not)."""
        with self._ready:
            return self._left + len(self._heavy) + len(self._light)

    def put(self, item: Outcome | BaseException) -> None:
        with self._ready:
            self._left -= 1
            if isinstance(item, BaseException):
                self._failure = item
            elif item.document is not None:
                self._heavy.append(item)
            else:
                self._light.append(item)
                if self._since is not None and not self._light_due():
                    return  # the writer already knows when these are due
                if self._since is None:
                    self._since = time.monotonic()
            self._ready.notify()

    def take(self) -> tuple[list[Outcome], list[Outcome]]:
        """Wait for work, then the outcomes with documents to write, and those to
        write together (empty until they are due)."""
        with self._ready:
            while not (self._failure or self._heavy or self._light_due()):
                if self._left == 0 and not self._light:
                    return [], []  # all taken
                due = None if self._since is None else self._since + LIGHT_WAIT
                self._ready.wait(None if due is None else due - time.monotonic())
            if self._failure is not None:
                raise self._failure
            heavy, self._heavy = self._heavy, []
            light: list[Outcome] = []
            if self._light_due():
                light, self._light, self._since = self._light, [], None
            return heavy, light

    def _light_due(self) -> bool:
        return bool(self._light) and (
            self._left == 0
            or len(self._light) >= LIGHT_BATCH
            or time.monotonic() - (self._since or 0.0) >= LIGHT_WAIT
        )
