"""RSS parse benchmark: ms per item of ``RssConnector.parse`` on bench/harvest.py's
corpus, with the fast lxml reader (connectors.syndication) and without it (the
feedparser path, as before issue #8), and of a bare ``feedparser.parse``. Never run
by pytest.

    python bench/rss_parse.py [--sources 12] [--offers 250] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from unittest import mock

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harvest import ENCODINGS  # noqa: E402
from bench.harvest import make_feed  # noqa: E402
from connectors import syndication  # noqa: E402
from connectors.base import FetchResult  # noqa: E402
from connectors.base import Source  # noqa: E402
from connectors.rss import RssConnector  # noqa: E402


def best_ms_per_item(run: Callable[[], int], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        items = run()
        best = min(best, (time.perf_counter() - start) / items * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=12)
    parser.add_argument("--offers", type=int, default=250, help="per source")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(42)
    langs = ["pl", "lt", "en"]
    feeds = []
    for s in range(args.sources):
        lang = langs[s % 3]
        encoding = ENCODINGS[lang][s % len(ENCODINGS[lang])]
        feeds.append(make_feed(rng, args.offers, lang, encoding, s))
    source = Source("b/s", "b", "rss", "https://member.example/feed", timedelta(1))
    results = [FetchResult(source.url, 200, {}, body) for body in feeds]
    connector = RssConnector()

    def parse() -> int:
        return sum(len(connector.parse(source, r).items) for r in results)

    def bare() -> int:
        return sum(len(feedparser.parse(body).entries) for body in feeds)

    fast = best_ms_per_item(parse, args.rounds)
    with mock.patch.object(syndication, "read", return_value=None):
        before = best_ms_per_item(parse, args.rounds)
    floor = best_ms_per_item(bare, args.rounds)
    print(f"{args.sources} feeds x {args.offers} items, best of {args.rounds}")
    print(f"RssConnector.parse, fast reader:  {fast:.3f} ms/item")
    print(f"RssConnector.parse, feedparser:   {before:.3f} ms/item")
    print(f"bare feedparser.parse:            {floor:.3f} ms/item")
    print(f"speed-up: {before / fast:.1f}x; vs bare feedparser {floor / fast:.1f}x")


if __name__ == "__main__":
    main()
