"""Harvest benchmark: a synthetic corpus of member feeds on loopback, harvested into a
fresh index; prints offers/s of a first harvest, the time of harvests where nothing
changed, peak memory, and the parse floors (feedparser alone, lxml alone) of the same
bytes. Never run by pytest.

    python bench/harvest.py --sources 40 --offers 250 [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.footprint import Footprint  # noqa: E402
from bench.workdir import workdir  # noqa: E402
from connectors.http import HttpLimits  # noqa: E402
from connectors.http import make_http  # noqa: E402
from connectors.netguard import NetworkPolicy  # noqa: E402
from feeds.profile import HISTORY_NS  # noqa: E402
from feeds.profile import Category  # noqa: E402
from feeds.profile import Contact  # noqa: E402
from feeds.profile import FeedInfo  # noqa: E402
from feeds.profile import Location  # noqa: E402
from feeds.profile import Offer as ProfileOffer  # noqa: E402
from feeds.profile import OfferKind  # noqa: E402
from feeds.profile import Organisation  # noqa: E402
from feeds.writer import write_atom  # noqa: E402
from hub import collector  # noqa: E402
from hub import db as hub_db  # noqa: E402
from hub import index  # noqa: E402
from hub import scheduler  # noqa: E402
from hub.harvest import Harvester  # noqa: E402
from hub.models import Offer  # noqa: E402
from hub.registry import load  # noqa: E402

UNCHANGED_RUNS = 5  # unchanged harvests timed after the first harvest
FLOOR_RUNS = 3  # runs of each floor, the best kept
WORDS = {
    "pl": (
        "obróbka CNC frezowanie toczenie spawanie cięcie laserowe blach gięcie "
        "malowanie proszkowe konstrukcje stalowe operator spawacz ślusarz tokarz "
        "Białystok Suwałki Ełk Łomża Augustów współpraca podwykonawca zlecenie"
    ).split(),
    "lt": (
        "baldų gamyba mediena pušies ąžuolo žaliuzės dailidė baldžius frezavimas "
        "Vilnius Kaunas Alytus Druskininkai Lazdijai Marijampolė subranga eksportas "
        "pjautinė klijuota sija užsakymas partneris"
    ).split(),
    "en": (
        "sheet metal fabrication welding machining furniture components timber oak "
        "pine export partner subcontracting capacity laser cutting joinery glulam "
        "precision engineering supplier"
    ).split(),
}
ENCODINGS = {
    "pl": ("utf-8", "iso-8859-2", "windows-1250"),
    "lt": ("utf-8", "windows-1257"),
    "en": ("utf-8",),
}


def make_feed(
    rng: random.Random, n: int, lang: str, encoding: str, source: int
) -> bytes:
    """One member feed of ``n`` offers, as served."""
    return "".join(_feed_parts(rng, n, lang, source, encoding)).encode(
        encoding, errors="xmlcharrefreplace"
    )


def write_feed(
    path: Path,
    rng: random.Random,
    n: int,
    lang: str,
    encoding: str,
    source: int,
    *,
    complete: bool = False,
    profile: bool = False,
) -> None:
    """``make_feed``'s bytes written item by item: a 100k-offer feed is never held
    in this process, whose peak memory the benchmark reports. ``profile``: the same
    offers in the offer feed profile instead (``_profile_parts``)."""
    with path.open("wb") as out:
        if profile:
            out.writelines(_profile_parts(rng, n, lang, source, complete))
            return
        for part in _feed_parts(rng, n, lang, source, encoding, complete):
            out.write(part.encode(encoding, errors="xmlcharrefreplace"))


def _feed_parts(
    rng: random.Random,
    n: int,
    lang: str,
    source: int,
    encoding: str,
    complete: bool = False,
) -> Iterator[str]:
    """The feed's text in parts; ``complete``: marked so (RFC 5005 fh:complete), as
    feeds.writer marks a complete feed."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    words = WORDS[lang]
    history = f" xmlns:fh='{HISTORY_NS}'" if complete else ""
    yield (
        f"<?xml version='1.0' encoding='{encoding}'?><rss version='2.0'{history}>"
        f"<channel><title>Member {source}</title>"
        f"<link>https://member{source}.example/</link><language>{lang}</language>"
    )
    for i in range(n):
        title = " ".join(rng.choice(words) for _ in range(6)).capitalize()
        body = " ".join(rng.choice(words) for _ in range(80))
        when = format_datetime(now - timedelta(minutes=rng.randrange(60 * 24 * 60)))
        yield (
            f"<item><title>{escape(title)}</title>"
            f"<link>https://member{source}.example/offers/{i}</link>"
            f"<guid isPermaLink='false'>s{source}-o{i}</guid><pubDate>{when}</pubDate>"
            f"<category>Oferty współpracy</category>"
            f"<description>{escape('<p>' + body + '</p>')}</description></item>"
        )
    yield "<fh:complete/></channel></rss>" if complete else "</channel></rss>"


PROFILE_CHUNK = 500  # offers written by one write_atom call
FIRMS = 97  # firms per member site, in profile feeds


def _profile_parts(
    rng: random.Random, n: int, lang: str, source: int, complete: bool
) -> Iterator[bytes]:
    """The feed as a member publishing the offer feed profile serves it: Atom with
    every eco field (kind, organisation, place, categories, contact, valid-through),
    written by feeds.writer ``PROFILE_CHUNK`` entries at a time and spliced."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    words, kinds = WORDS[lang], list(OfferKind)
    towns = [(w, c) for c in ("pl", "lt") for w in WORDS[c] if w[0].isupper()]
    info = FeedInfo(
        title=f"Member {source}",
        link=f"https://member{source}.example/",
        id=f"tag:member{source}.example,2026:offers",
        language=lang,
        complete=complete,
        updated=now,
    )
    for start in range(0, n, PROFILE_CHUNK):
        offers = []
        for i in range(start, min(n, start + PROFILE_CHUNK)):
            title = " ".join(rng.choice(words) for _ in range(6)).capitalize()
            body = " ".join(rng.choice(words) for _ in range(80))
            when = now - timedelta(minutes=rng.randrange(60 * 24 * 60))
            firm = i % FIRMS  # a member's firms each publish many offers
            town, country = towns[(source + firm) % len(towns)]
            offers.append(
                ProfileOffer(
                    id=f"tag:member{source}.example,2026:o-{i}",
                    title=title,
                    link=f"https://member{source}.example/offers/{i}",
                    kind=kinds[i % len(kinds)],
                    language=lang,
                    content_html=f"<p>{escape(body)}</p>",
                    published=when,
                    valid_through=when + timedelta(days=120),
                    organisation=Organisation(
                        f"Firma {source}-{firm}", country.upper(), town
                    ),
                    location=Location(country.upper(), town, lat=54.1, lon=23.2),
                    categories=(Category("25.62", "https://e-cooperation.eu/ns/nace"),),
                    contact=Contact(email=f"o{firm}@member{source}.example"),
                )
            )
        document = write_atom(info, offers)
        head = document.index(b"<entry")
        tail = document.rindex(b"</entry>") + len(b"</entry>")
        if start == 0:
            yield document[:head]
        yield document[head:tail]
    yield b"\n</feed>\n"


def serve(corpus: Path) -> tuple[multiprocessing.Process, int]:
    """The corpus's ``feed-N.xml`` files at ``/feed/N``, with ETags, from a process
    of its own (its memory is not the harvester's); the process and its port."""
    ready: multiprocessing.SimpleQueue[int] = multiprocessing.SimpleQueue()

    def run() -> None:
        cache: dict[str, tuple[bytes, str]] = {}  # name -> body, ETag

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as servers do

            def do_GET(self) -> None:  # noqa: N802
                name = self.path.removeprefix("/feed/")
                path = corpus / f"feed-{name}.xml"
                if not name.isdigit() or not path.exists():
                    self.send_error(404)
                    return
                # Read once: a 304 is answered without reading the feed, as a
                # static file server answers it (cache.setdefault(name,
                # path.read_bytes()) read the file at every request).
                if name not in cache:
                    body = path.read_bytes()
                    cache[name] = body, f'"{hash(body) & 0xFFFFFFFF:x}"'
                body, etag = cache[name]
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ready.put(server.server_port)
        server.serve_forever()

    process = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    process.start()
    return process, ready.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--offers", type=int, default=250, help="per source")
    parser.add_argument("--database-url", default=None, help="default: a temp SQLite")
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument(
        "--max-mb", type=int, default=10, help="fetch size cap (a 100k-offer feed: 120)"
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="time the unchanged runs' bookkeeping: claim, _start, _write_together",
    )
    parser.add_argument(
        "--footprint",
        action="store_true",
        help="sample the first harvest's memory, workers' included (PSS; costs CPU)",
    )
    parser.add_argument(
        "--complete",
        action="store_true",
        help="feeds marked complete (fh:complete), as the feed profile writes them",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="feeds in the offer feed profile (Atom + eco, feeds.writer), UTF-8",
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="leave the start-up objects to the collector (ecoop worker settles them)",
    )
    parser.add_argument(
        "--new-source",
        type=int,
        default=0,
        metavar="N",
        help="then ANALYZE the index and harvest one more source of N offers",
    )
    parser.add_argument(
        "--unprepared",
        action="store_true",
        help="PostgreSQL: no prepared statements (as behind a transaction pooler)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the corpus and the SQLite database (deleted by default)",
    )
    args = parser.parse_args()
    with workdir("ecoop-bench-harvest-", keep=args.keep) as tmp:
        run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    """The benchmark, with its corpus and SQLite database in ``tmp``."""
    rng = random.Random(42)
    langs = ["pl", "lt", "en"]
    corpus = tmp / "corpus"
    corpus.mkdir()
    for s in range(args.sources):
        lang = langs[s % 3]
        encoding = ENCODINGS[lang][s % len(ENCODINGS[lang])]
        write_feed(
            corpus / f"feed-{s}.xml",
            rng,
            args.offers,
            lang,
            encoding,
            s,
            complete=args.complete,
            profile=args.profile,
        )
    total = args.sources * args.offers
    size = sum(f.stat().st_size for f in corpus.iterdir())
    server, port = serve(corpus)
    base = f"http://127.0.0.1:{port}"
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    registry_path = tmp / "clusters.yaml"
    registry_path.write_text(registry(base, args.sources), encoding="utf-8")
    unprepared = args.unprepared and url.startswith("postgresql")
    engine = hub_db.make_engine(
        url, **({"connect_args": {"prepare_threshold": None}} if unprepared else {})
    )
    hub_db.upgrade(engine)
    sessions = hub_db.make_sessionmaker(engine)
    with sessions() as db:
        index.sync_registry(db, load(registry_path), datetime.now(UTC))
    harvester = Harvester(
        sessions,
        make_http(),
        pool_size=args.pool_size,
        policy=NetworkPolicy(allow=("127.0.0.1/32",)),  # the corpus is on loopback
        limits=HttpLimits(max_bytes=args.max_mb * 1024 * 1024, deadline=600),
    )

    print(
        f"corpus: {args.sources} feeds x {args.offers} offers = {total} offers, "
        f"{size / 1e6:.1f} MB; database {engine.dialect.name}; pool {args.pool_size}"
    )
    if args.settle:  # as `ecoop worker` does before its first tick
        collector.settle()
    pauses = {"first": collector.Pauses(), "unchanged": collector.Pauses()}
    started = time.perf_counter()
    keys = [f"bench/s{s}" for s in range(args.sources)]
    before = cpu_seconds()
    server_before = database_cpu_seconds(engine)
    footprint = Footprint() if args.footprint else contextlib.nullcontext()
    with pauses["first"], footprint:
        first = harvester.run(due_only=False, keys=keys)
    first_s = time.perf_counter() - started
    server_after = database_cpu_seconds(engine)
    harvester.close()  # the parsing workers' CPU is counted once they are reaped
    own_cpu, workers_cpu = (a - b for a, b in zip(cpu_seconds(), before, strict=True))
    assert sum(r.new for r in first) == total, [r for r in first if r.status != "ok"]
    # Unchanged harvests: the first after the first harvest, then the steady state
    # of a hub whose feeds rarely change (the median of the next four).
    unchanged_s = []
    written = offers_state(sessions)
    phases: dict[str, float] = {}
    with contextlib.ExitStack() as timing:
        if args.phases:
            timing.enter_context(timed(scheduler, "claim", phases))
            timing.enter_context(timed(Harvester, "_start", phases))
            timing.enter_context(timed(Harvester, "_write_together", phases))
        timing.enter_context(pauses["unchanged"])
        for _ in range(UNCHANGED_RUNS):
            started = time.perf_counter()
            conditional = harvester.run(due_only=False, keys=keys)
            unchanged_s.append(time.perf_counter() - started)
    conditional_s, steady_s = unchanged_s[0], statistics.median(unchanged_s[1:])
    assert offers_state(sessions) == written, "an unchanged harvest wrote offers"
    started = time.perf_counter()
    forced = harvester.run(due_only=False, keys=keys, force=True)
    forced_s = time.perf_counter() - started
    assert sum(r.unchanged for r in forced) == total
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Documents are parsed in forked workers (connectors.bounded): their peak too,
    # counted once they are reaped.
    harvester.close()
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # The floors read the same bytes, after the peaks above were taken: the best of
    # FLOOR_RUNS runs each (feedparser's time alone varied from 4.7 to 7.9 s).
    def best_of(parse: Callable[[bytes], object]) -> float:
        runs = []
        for _ in range(FLOOR_RUNS):
            started = time.perf_counter()
            for path in corpus.iterdir():
                parse(path.read_bytes())
            runs.append(time.perf_counter() - started)
        return min(runs)

    feedparser_s = best_of(feedparser.parse)
    lxml_s = best_of(
        lambda body: etree.fromstring(body, etree.XMLParser(resolve_entities=False))
    )

    rows = [
        ("first harvest (fetch, parse, normalise, insert)", first_s),
        ("harvest, nothing changed: 304s", conditional_s),
        (f"  the same, median of the next {UNCHANGED_RUNS - 1}", steady_s),
        ("harvest, nothing changed: --force re-read", forced_s),
        (f"floor: feedparser.parse, best of {FLOOR_RUNS}", feedparser_s),
        (f"floor: lxml parse, best of {FLOOR_RUNS}", lxml_s),
    ]
    for label, seconds in rows:
        print(f"{label:<50} {seconds:8.3f} s {total / seconds:>10,.0f} offers/s")
    print(
        f"first harvest's offers/s / feedparser's: {feedparser_s / first_s:.2f}x "
        "(target >= 2x); "
        f"peak RSS {peak_mb:.0f} MB, largest parsing child {child_mb:.0f} MB"
    )
    spent = [f"harvester {own_cpu:.2f} s", f"parsing workers {workers_cpu:.2f} s"]
    cpu = own_cpu + workers_cpu
    if server_before is not None and server_after is not None:
        spent.append(f"PostgreSQL {server_after - server_before:.2f} s")
        cpu += server_after - server_before
    print(
        f"CPU of the first harvest: {', '.join(spent)} ({cpu / feedparser_s:.2f}x "
        "feedparser's time)"
    )
    print(
        f"unchanged / first harvest: {conditional_s / first_s:.1%} the first time, "
        f"{steady_s / first_s:.1%} the median of the next (target <= 3%)"
    )
    if isinstance(footprint, Footprint):
        print(f"memory of the first harvest: {footprint}")
    settled = "settled" if args.settle else "not settled"
    for name, seen in pauses.items():
        print(
            f"collector in the {name} harvest{'s' if name == 'unchanged' else ''} "
            f"({settled}): {seen}"
        )
    for phase, seconds in phases.items():
        print(f"  unchanged run, {phase}: {seconds / UNCHANGED_RUNS * 1000:.1f} ms")
    statuses = {r.status for r in conditional}
    print(f"statuses of the unchanged harvest: {sorted(statuses)}")
    if args.new_source:
        # A member joining a federation whose index has statistics: its first harvest.
        write_feed(
            corpus / f"feed-{args.sources}.xml",
            rng,
            args.new_source,
            "pl",
            "utf-8",
            args.sources,
        )
        registry_path.write_text(registry(base, args.sources + 1), encoding="utf-8")
        with sessions() as db:
            index.sync_registry(db, load(registry_path), datetime.now(UTC))
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE offers")
        started = time.perf_counter()
        [joined] = harvester.run(due_only=False, keys=[f"bench/s{args.sources}"])
        seconds = time.perf_counter() - started
        assert joined.new == args.new_source, joined
        print(
            f"a new source of {args.new_source} offers after ANALYZE"
            f"{' (statements not prepared)' if unprepared else ''}: {seconds:.3f} s, "
            f"{args.new_source / seconds:,.0f} offers/s"
        )
        harvester.close()
    server.terminate()
    engine.dispose()


@contextlib.contextmanager
def timed(owner: object, name: str, totals: dict[str, float]) -> Iterator[None]:
    """Add the time of each call of ``owner.name`` to ``totals[name]`` meanwhile."""
    original = getattr(owner, name)

    def timing(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

    setattr(owner, name, timing)
    try:
        yield
    finally:
        setattr(owner, name, original)


def registry(base: str, sources: int) -> str:
    """clusters.yaml: one cluster of ``sources`` RSS feeds, ``/feed/N`` at ``base``."""
    return (
        "clusters:\n  - slug: bench\n    name: {pl: B, lt: B, en: B}\n    country: PL\n"
        "    sector: metalworking\n    homepage: https://bench.example/\n"
        "    languages: [pl, lt, en]\n    sources:\n"
        + "".join(
            f"      - id: s{s}\n        type: rss\n        url: {base}/feed/{s}\n"
            for s in range(sources)
        )
    )


def cpu_seconds() -> tuple[float, float]:
    """User + system CPU of this process, and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def database_cpu_seconds(engine: sa.Engine) -> float | None:
    """User + system CPU of the PostgreSQL server's processes so far, when it is
    this machine's (the two cores the harvest has are its too); else None. The
    harvester's connections stay open meanwhile, so their backends are counted."""
    local = engine.url.host in (None, "", "localhost", "127.0.0.1", "::1")
    if engine.dialect.name != "postgresql" or not local:
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # a process that ended meanwhile
            continue
        name, _, rest = line.partition(" (")[2].rpartition(")")
        if name == "postgres":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def offers_state(sessions: sessionmaker[Session]) -> tuple[object, ...]:
    """What any write to offers would change: their count, newest sighting and
    update, absences."""
    with sessions() as db:
        return tuple(
            db.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.max(Offer.last_seen_at),
                    sa.func.max(Offer.updated_at),
                    sa.func.sum(Offer.missing_runs),
                )
            ).one()
        )


if __name__ == "__main__":
    main()
