"""`ecoop demo` as a user runs it.

A subprocess on free ports, offline, serving both clusters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from html import escape
from pathlib import Path

import pytest
import requests

from feeds.samples import sample_offers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--port", "0", "--sites-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the URL is printed once the harvest is done
            lines.append(line)
            match = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
            if match:
                yield match[1], lines
                break
        else:
            pytest.fail("demo exited before serving:\n" + "".join(lines))
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_serves_offers_of_both_clusters(demo: tuple[str, list[str]]) -> None:
    url, output = demo
    samples = sample_offers(datetime.now(UTC))
    summary = [line.split() for line in output if "/offers " in line]
    assert sorted(row[:3] for row in summary) == [
        ["medienospartneriai/offers", "ok", str(len(samples["medienospartneriai"]))],
        ["metalklaster/offers", "ok", str(len(samples["metalklaster"]))],
    ]
    home = requests.get(url + "/en/", timeout=10)
    assert home.status_code == 200
    assert (
        "Metal Processing Cluster" in home.text and "Wood Partners Cluster" in home.text
    )
    blinds = next(o for o in samples["medienospartneriai"] if "žaliuzės" in o.title)
    offers = requests.get(url + "/lt/offers/", params={"q": "zaliuzes"}, timeout=10)
    assert escape(blinds.title) in offers.text
    welder = next(o for o in samples["metalklaster"] if o.title.startswith("Spawacz"))
    offers = requests.get(url + "/pl/offers/", params={"q": "spawacz"}, timeout=10)
    assert escape(welder.title) in offers.text
