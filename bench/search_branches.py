"""What the branches of a PostgreSQL window read cost when they are planned but not
run: one query, its floor forced to the boundary of the k-th newest segment
(hub.search_plan), timed as the site runs it. Never run by pytest.

    python -m bench.search_branches --database-url postgresql+psycopg://... \\
        --text "laser cutting" --segments 2,4,8,16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bench.generate import NOW
from hub import db as hub_db
from hub import search_plan
from hub.search import OfferQuery
from hub.search import search_offers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--text", default="laser cutting")
    parser.add_argument("--segments", default="2,4,8,16", help="floors to try")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    counts = [int(k) for k in args.segments.split(",")]
    engine = hub_db.make_engine(args.database_url)
    sessions = hub_db.make_sessionmaker(engine)
    wall: dict[int, list[float]] = {k: [] for k in counts}
    cpu: dict[int, list[float]] = {k: [] for k in counts}
    choose = search_plan.choose
    try:
        with sessions() as db:
            for run in range(args.repeat + 1):  # the first run warms the caches
                for k in counts:
                    search_plan.choose = lambda est, k=k: search_plan.Choice(
                        True, est.segments[min(k, len(est.segments)) - 1]
                    )
                    started, used = time.perf_counter(), time.process_time()
                    search_offers(db, OfferQuery(text=args.text), NOW)
                    if run:
                        wall[k].append((time.perf_counter() - started) * 1000)
                        cpu[k].append((time.process_time() - used) * 1000)
    finally:
        search_plan.choose = choose
        engine.dispose()
    print(f"{args.text!r}, medians of {args.repeat} runs")
    for k in counts:
        print(
            f"  down to segment {k:2}: {statistics.median(wall[k]):6.1f} ms, "
            f"Python {statistics.median(cpu[k]):5.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
