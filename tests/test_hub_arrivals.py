"""How outcomes reach the writer: documents at once, the rest together when due."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors.base import ParsedDocument
from connectors.base import Source
from connectors.http import Validators
from hub import arrivals
from hub.arrivals import Arrivals
from hub.recording import Job
from hub.recording import Outcome

H = timedelta(hours=1)


def outcome(name: str, *, document: bool = False) -> Outcome:
    spec = Source(f"metal/{name}", "metal", "rss", "https://metal.example/feed", H)
    job = Job(source_id=1, run_id=1, spec=spec, validators=Validators(), body_hash=None)
    return Outcome(job, document=ParsedDocument([]) if document else None)


def names(outcomes: list[Outcome]) -> list[str]:
    return [o.job.spec.key.removeprefix("metal/") for o in outcomes]


@pytest.fixture
def later() -> Iterator[Callable[..., None]]:
    """Run ``put`` calls in another thread, ``pause`` seconds apart, as fetch
    threads would."""
    threads = []

    def start(*calls: Callable[[], None], pause: float = 0.05) -> None:
        def run() -> None:
            for call in calls:
                time.sleep(pause)
                call()

        threads.append(threading.Thread(target=run))
        threads[-1].start()

    yield start
    for thread in threads:
        thread.join()


def test_outcomes_with_nothing_to_write_are_taken_together_once_all_are_in(
    later: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 60.0)
    box = Arrivals(3)
    later(*(lambda n=n: box.put(outcome(n)) for n in "abc"))
    assert [names(part) for part in box.take()] == [[], ["a", "b", "c"]]
    assert box.left == 0


def test_a_document_is_taken_at_once_while_the_others_keep_waiting(
    later: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 60.0)
    box = Arrivals(3)
    box.put(outcome("a"))
    later(lambda: box.put(outcome("b", document=True)))
    assert [names(part) for part in box.take()] == [["b"], []]
    assert box.left == 2
    later(lambda: box.put(outcome("c")))
    assert [names(part) for part in box.take()] == [[], ["a", "c"]]
    assert box.left == 0


def test_waiting_outcomes_are_taken_after_the_light_wait_or_a_full_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 0.2)
    box = Arrivals(10)
    box.put(outcome("a"))
    started = time.monotonic()
    assert [names(part) for part in box.take()] == [[], ["a"]]
    assert time.monotonic() - started >= 0.15
    monkeypatch.setattr(arrivals, "LIGHT_WAIT", 60.0)
    monkeypatch.setattr(arrivals, "LIGHT_BATCH", 2)
    box.put(outcome("b"))
    box.put(outcome("c"))
    assert [names(part) for part in box.take()] == [[], ["b", "c"]]
    assert box.left == 7


def test_an_exception_a_fetch_thread_let_through_reaches_the_writer(
    later: Callable[..., None],
) -> None:
    box = Arrivals(2)
    later(lambda: box.put(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        box.take()
