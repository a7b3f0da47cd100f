"""`python -m feeds.samples [--host H] [--port N]`: serves the sample member sites."""

from __future__ import annotations

import sys

from feeds.samples.server import main

if __name__ == "__main__":
    sys.exit(main())
