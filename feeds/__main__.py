"""`python -m feeds validate|example`: the member-side command line, owning the one
plain GET for URLs (fetch); no hub, no database. Exit: 0 valid, 1 errors, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import requests

from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import Category
from feeds.profile import Contact
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedProfileError
from feeds.profile import Location
from feeds.profile import Offer
from feeds.profile import OfferKind
from feeds.profile import Organisation
from feeds.validator import validate
from feeds.writer import write_atom
from feeds.writer import write_json_feed

TIMEOUT = 10.0  # seconds, for connecting, for each read and for the whole body
MAX_BYTES = 5 * 1024 * 1024
USER_AGENT = "ecoop-feeds-validator/1.0 (+https://e-cooperation.eu/)"


class FeedFetchError(FeedProfileError):
    """A URL could not be fetched within the limits."""


def fetch(url: str, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> bytes:
    """GET ``url`` and return the body, refusing more than ``max_bytes`` or
    ``timeout`` seconds in all.

    Raises:
        FeedFetchError: network error, HTTP error status, too big or too slow.
    """
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/atom+xml, "
        "application/feed+json, application/json;q=0.9, */*;q=0.1",
    }
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, headers=headers, timeout=timeout, stream=True) as resp:
            resp.raise_for_status()
            body = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise FeedFetchError(f"{url}: larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FeedFetchError(f"{url}: slower than {timeout:g} s")
            return bytes(body)
    except requests.RequestException as e:
        raise FeedFetchError(f"{url}: {e}") from e


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m feeds", description="Member-side tools for the feed profile."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check a feed against the profile")
    check.add_argument("source", help="a file path, an http(s) URL, or - for stdin")
    check.add_argument("--format", choices=("text", "json"), default="text")
    show = commands.add_parser("example", help="print a complete example feed")
    show.add_argument("kind", choices=("atom", "json"), help="document format")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: 0 for --help, 2 for a usage error
        return e.code if isinstance(e.code, int) else 2
    if args.command == "example":
        sys.stdout.buffer.write(example(args.kind))
        return 0
    try:
        data = _load(args.source)
    except (OSError, FeedFetchError) as e:
        print(f"python -m feeds: cannot read {args.source}: {e}", file=sys.stderr)
        return 2
    report = validate(data)
    if args.format == "json":
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(report.to_text(args.source))
    return 0 if report.ok else 1


def _load(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    if source.startswith(("http://", "https://")):
        return fetch(source)
    return Path(source).read_bytes()


def example(kind: str) -> bytes:
    """A complete example document (``atom`` or ``json``) built with the writer."""
    info, offers, deleted = example_feed()
    write = write_atom if kind == "atom" else write_json_feed
    return write(info, offers, deleted)


def example_feed() -> tuple[FeedInfo, list[Offer], list[Deleted]]:
    """The example of PROFILE.md: an offer in PL with its LT version, a job offer,
    a company profile, and one withdrawn offer."""
    cet = timezone(timedelta(hours=1))
    site = "https://metalklaster.example.pl"
    org = Organisation(
        name="Zakład Ślusarsko-Spawalniczy „Stal-Łoś” Sp. z o.o.",
        country="PL",
        town="Suwałki",
        website="https://stal-los.example.pl/",
        identifiers={"vat": "PL8441234567", "krs": "0000123456"},
    )
    group = "tag:metalklaster.example.pl,2026:group-17"
    lt_url = f"{site}/lt/pasiulymai/17"
    welding = Category("25.62", SCHEME_NACE, "Obróbka mechaniczna elementów metalowych")
    offer_pl = Offer(
        id="tag:metalklaster.example.pl,2026:offer-17-pl",
        title="Spawanie i cięcie laserowe – wolne moce przerobowe",
        link=f"{site}/oferty/17",
        kind=OfferKind.BUSINESS_OFFER,
        language="pl",
        summary="Spawanie MIG/MAG i TIG, cięcie laserem do 20 mm; Suwałki.",
        content_html="<p>Oferujemy <strong>spawanie</strong> i cięcie laserowe.</p>",
        published=datetime(2026, 11, 20, 9, 0, tzinfo=cet),
        updated=datetime(2026, 11, 25, 9, 50, tzinfo=cet),
        valid_through=datetime(2027, 3, 31, 23, 59, tzinfo=cet),
        organisation=org,
        location=Location("PL", "Suwałki", "16-400", 54.1115, 22.9308),
        categories=(welding, Category("spawanie")),
        contact=Contact(
            "Łukasz Żółkiewski", "oferty@stal-los.example.pl", "+48 87 565 00 00"
        ),
        group=group,
        alternates={"lt": lt_url},
    )
    offer_lt = Offer(
        id="tag:metalklaster.example.pl,2026:offer-17-lt",
        title="Suvirinimas ir pjovimas lazeriu – laisvi gamybos pajėgumai",
        link=lt_url,
        kind=OfferKind.BUSINESS_OFFER,
        language="lt",
        summary="MIG/MAG ir TIG suvirinimas, pjovimas lazeriu iki 20 mm; Suvalkai.",
        published=offer_pl.published,
        updated=offer_pl.updated,
        valid_through=offer_pl.valid_through,
        organisation=org,
        location=offer_pl.location,
        categories=(welding,),
        group=group,
        alternates={"pl": offer_pl.link},
    )
    job = Offer(
        id="tag:metalklaster.example.pl,2026:job-4",
        title="Operator obrabiarek CNC (praca zmianowa)",
        link=f"{site}/praca/4",
        kind=OfferKind.JOB_OFFER,
        language="pl",
        summary="Ełk, umowa o pracę, 2 zmiany.",
        published=datetime(2026, 11, 22, 8, 0, tzinfo=cet),
        updated=datetime(2026, 11, 22, 8, 0, tzinfo=cet),
        valid_through=datetime(2026, 12, 31, 23, 59, tzinfo=cet),
        organisation=org,
        location=Location("PL", "Ełk"),
        categories=(
            Category(
                f"{SCHEME_ESCO_OCCUPATION}/5c082067-ea18-4ccb-8c43-e70b18ad8120",
                SCHEME_ESCO_OCCUPATION,
                "operator obrabiarek CNC",
            ),
        ),
        contact=Contact("Dział kadr", "praca@stal-los.example.pl"),
    )
    profile = Offer(
        id="tag:metalklaster.example.pl,2026:company-3",
        title="Ocynkownia Augustów – cynkowanie ogniowe i malowanie proszkowe",
        link=f"{site}/firmy/3",
        language="pl",
        summary="Cynkownia ogniowa z malarnią proszkową, 40 km od granicy z Litwą.",
        updated=datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
        organisation=Organisation(
            name="Ocynkownia Augustów Sp. z o.o.",
            country="PL",
            town="Augustów",
            website="https://ocynkownia.example.pl/",
            identifiers={"nip": "8461234567", "krs": "0000654321"},
            capabilities=(
                "Cynkowanie ogniowe elementów do 12 m",
                "Malowanie proszkowe w systemie duplex",
            ),
        ),
        location=Location("PL", "Augustów", "16-300"),
        categories=(
            Category("25.61", SCHEME_NACE, "Obróbka metali i nakładanie powłok"),
        ),
    )
    info = FeedInfo(
        title="Klaster Obróbki Metali – oferty współpracy",
        link=f"{site}/oferty",
        id="tag:metalklaster.example.pl,2026:offers",
        language="pl",
        complete=True,
        self_url=f"{site}/feed.atom",
        author="Klaster Obróbki Metali",
        updated=datetime(2026, 11, 25, 9, 50, tzinfo=cet),
    )
    gone = Deleted(
        "tag:metalklaster.example.pl,2026:offer-9",
        datetime(2026, 11, 24, 16, 0, tzinfo=cet),
    )
    return info, [offer_pl, offer_lt, job, profile], [gone]


if __name__ == "__main__":
    sys.exit(main())
