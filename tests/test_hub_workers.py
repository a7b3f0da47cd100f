"""Several `ecoop worker` processes on one database harvest each due source once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from helpers import write_registry
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from feeds.samples import METAL_FEED_PATH
from feeds.samples import WOOD_FEED_PATH
from feeds.samples import SampleSites
from hub.models import HarvestRun
from hub.models import Source

ROOT = Path(__file__).resolve().parent.parent
SOURCES = 8


def test_three_workers_harvest_each_due_source_exactly_once(
    db_url: str,
    sessions: sessionmaker[Session],
    sample_sites: SampleSites,
    tmp_path: Path,
) -> None:
    feeds = [METAL_FEED_PATH, WOOD_FEED_PATH]
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {
            f"s{i}": f"{sample_sites.base_url}{feeds[i % 2]}?copy={i}"
            for i in range(SOURCES)
        },
    )
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ECOOP_REGISTRY": str(registry),
        "ECOOP_TICK_SECONDS": "0.2",
        "ECOOP_POOL_SIZE": "2",
        "ECOOP_FETCH_ALLOW": "127.0.0.1/32",
        "PYTHONUNBUFFERED": "1",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "hub", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sessions() as db:
                done = db.scalar(
                    sa.select(sa.func.count())
                    .select_from(HarvestRun)
                    .where(HarvestRun.status != "running")
                )
            if done and done >= SOURCES:
                break
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.2)
        time.sleep(2)  # ten more ticks each: nothing is due again for an hour
    finally:
        for worker in workers:
            worker.terminate()
        errors = [worker.communicate(timeout=20)[1] for worker in workers]
    with sessions() as db:
        runs = db.execute(
            sa.select(Source.key, HarvestRun.status, HarvestRun.owner).join(
                Source, Source.id == HarvestRun.source_id
            )
        ).all()
    assert sorted(key for key, _, _ in runs) == [
        f"metal/s{i}" for i in range(SOURCES)
    ], errors
    assert {status for _, status, _ in runs} == {"ok"}
