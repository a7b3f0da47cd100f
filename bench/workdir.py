"""The temporary directory a benchmark writes its corpus, database and logs into."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def workdir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A new directory in $TMPDIR, deleted when the block ends, by an error too,
    unless ``keep`` (then its path is printed). A harvest run leaves ~150 MB there
    (a 100k-entry feed's run ~1 GB): kept after every run, they filled the disk."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)
