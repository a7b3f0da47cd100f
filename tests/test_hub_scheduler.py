"""The next-due rule and the harvest lease.

The next-due rule is pure and table-tested; the lease gives a source one harvester.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import index
from hub import scheduler
from hub.registry import load

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("interval", "errors", "expected"),
    [
        (H, 0, H),
        (H, 1, 2 * H),
        (H, 3, 8 * H),
        (H, 5, 24 * H),  # capped at 24 h ...
        (H, 50, 24 * H),  # ... and never stops polling
        (48 * H, 2, 48 * H),  # never below the interval itself
        (timedelta(minutes=10), 2, timedelta(minutes=40)),
    ],
)
def test_next_check_at(interval: timedelta, errors: int, expected: timedelta) -> None:
    assert scheduler.next_check_at(NOW, interval, errors) == NOW + expected


def test_a_claimed_source_is_leased_to_one_owner(
    sessions: sessionmaker[Session],
) -> None:
    registry = load(Path(__file__).resolve().parent.parent / "config" / "clusters.yaml")
    with sessions() as db:
        index.sync_registry(db, registry, NOW)
        first = scheduler.claim(db, NOW, "worker-a")
        assert {s.key for s in first} == {
            "metalklaster/offers",
            "medienospartneriai/offers",
        }
        assert all(s.lease_owner == "worker-a" for s in first)
        assert scheduler.claim(db, NOW, "worker-b") == []
        # the lease of a worker that died expires, and the source is claimable again
        later = NOW + scheduler.DEFAULT_LEASE + timedelta(seconds=1)
        second = scheduler.claim(db, later, "worker-b")
        assert {s.lease_owner for s in second} == {"worker-b"} and len(second) == 2


def test_only_due_sources_are_claimed(sessions: sessionmaker[Session]) -> None:
    registry = load(Path(__file__).resolve().parent.parent / "config" / "clusters.yaml")
    with sessions() as db:
        index.sync_registry(db, registry, NOW + H)
        assert scheduler.claim(db, NOW, "w") == []
        assert len(scheduler.claim(db, NOW, "w", due_only=False)) == 2
