"""Site throughput: requests/s and p99 of the home, search and offer pages under
gunicorn (2 workers, the deployed deploy/gunicorn.conf.py), measured with wrk on
loopback, against a minimal Flask page served the same way in the same run (the
ceiling).

Builds a synthetic index with bench/generate.py unless --database-url already holds
one. Never run by pytest. Needs `wrk` (Debian package wrk).
Usage: python -m bench.site --offers 100000 [--database-url ...] [--duration 10]
       [--no-page-cache]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from bench.generate import generate
from bench.workdir import workdir
from hub import db as hub_db
from hub.models import Offer

ROOT = Path(__file__).resolve().parent.parent
MINIMAL_APP = "bench.minimal_app:app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """``app`` under gunicorn with 2 sync workers on a loopback port, with the
    settings deployed (deploy/gunicorn.conf.py); its base URL. Its log goes to
    ``log``."""
    port = free_port()
    with log.open("a") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                app,
            ],
            cwd=ROOT,
            env=env,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz" if "hub" in app else base)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def wrk(url: str, duration: int, connections: int) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of ``url``; non-2xx answers fail the run.

    Each worker first serves the page for two seconds unmeasured: its first request
    of a page compiles templates and statements (~250 ms), which the requests queued
    behind it would otherwise count in the p99 of a run of seconds."""
    warm = ["wrk", "-t2", f"-c{connections}", "-d2s", url]
    subprocess.run(warm, capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{url} answered errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, float(value) * scale


def _count(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(Offer)) or 0)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no schema yet
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--database-url")
    parser.add_argument("--duration", type=int, default=10, help="seconds per URL")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--no-page-cache",
        action="store_true",
        help="render every request (ECOOP_PAGE_CACHE_SECONDS=0), as for queries "
        "no visitor asked before",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated SQLite index and gunicorn's log (deleted by default)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with workdir("ecoop-bench-site-", keep=args.keep) as tmp:
        return run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> int:
    """The benchmark, with its SQLite index (unless --database-url) and gunicorn's
    log in ``tmp``."""
    url = args.database_url or f"sqlite:///{tmp / 'site.sqlite3'}"
    engine = hub_db.make_engine(url)
    if not _count(engine):
        print(f"generating {args.offers} offers into {url} ...", flush=True)
        generate(url, args.offers)
    have = _count(engine)
    with engine.connect() as conn:
        offer_id = conn.scalar(sa.select(sa.func.min(Offer.id)))
    engine.dispose()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECOOP_")},
        "DATABASE_URL": url,
        "ECOOP_SCHEDULER": "false",
        "ECOOP_LOG_LEVEL": "warning",
        "SECRET_KEY": "bench",
    }
    if args.no_page_cache:
        env["ECOOP_PAGE_CACHE_SECONDS"] = "0"
    pages = [
        ("home", "/en/"),
        ("search: one word", "/en/offers/?q=spawanie"),
        (
            "search: word + kind + country",
            "/en/offers/?q=drewno&kind=business-offer&country=LT",
        ),
        ("search: no query, page 3", "/en/offers/?page=3"),
        ("offer page", f"/en/offers/{offer_id}"),
    ]
    print(
        f"{have} offers in {engine.dialect.name}; gunicorn 2 workers; "
        f"wrk -t2 -c{args.connections} -d{args.duration}s on loopback; "
        f"page cache {'off' if args.no_page_cache else 'on'}"
    )
    log = tmp / "gunicorn.log"  # kept with --keep
    with gunicorn(MINIMAL_APP, env, log) as base:
        ceiling, ceiling_p99 = wrk(base + "/", args.duration, args.connections)
    label = "minimal Flask page (ceiling)"
    print(f"{label:<34} {ceiling:9.0f} req/s  p99 {ceiling_p99:7.1f} ms")
    with gunicorn("hub:create_app()", env, log) as base:
        for label, path in pages:
            rps, p99 = wrk(base + path, args.duration, args.connections)
            print(
                f"{label:<34} {rps:9.0f} req/s  p99 {p99:7.1f} ms  "
                f"{rps / ceiling:6.1%} of the ceiling"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
