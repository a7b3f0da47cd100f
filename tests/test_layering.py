"""Imports go one way: feeds -> connectors -> hub. Checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("flask", "sqlalchemy", "hub", "apscheduler")


@pytest.mark.parametrize("package", ["feeds", "feeds.samples", "connectors"])
def test_member_side_and_connectors_import_nothing_of_the_hub(package: str) -> None:
    code = (
        f"import json, sys, {package}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint(FORBIDDEN), loaded & set(FORBIDDEN)
