"""Deterministic synthetic federation: clusters x sources x offers in PL/LT/EN.

Writes straight into the database at --database-url (schema from the migrations, bulk
inserts through the search triggers). Same --seed and --offers, same rows. Never run by
pytest. Usage: python -m bench.generate --offers 100000 --database-url sqlite:///x.db
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from hub import db as hub_db
from hub import search_ddl
from hub.models import Cluster
from hub.models import Offer
from hub.models import Source
from hub.places import list_places
from hub.text import fold

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CHUNK = 2000

# (slug, country, languages, sector): the region's clusters, as in config/clusters.yaml
CLUSTERS = [
    ("metalklaster", "PL", ("pl", "en"), "metal"),
    ("podlaskie-drewno", "PL", ("pl",), "wood"),
    ("warminskie-meble", "PL", ("pl", "en"), "wood"),
    ("suwalki-metal", "PL", ("pl", "lt"), "metal"),
    ("medienospartneriai", "LT", ("lt", "en"), "wood"),
    ("metalo-klasteris", "LT", ("lt",), "metal"),
    ("kaunas-inzinerija", "LT", ("lt", "en"), "metal"),
    ("alytus-baldai", "LT", ("lt", "pl"), "wood"),
    ("hrodna-mash", "BY", ("en",), "metal"),
    ("kaliningrad-wood", "RU", ("en",), "wood"),
    ("lviv-it-metal", "UA", ("en",), "metal"),
    ("baltic-cross-border", "LT", ("en", "lt", "pl"), "metal"),
]
SOURCES_PER_CLUSTER = 3
KINDS = [
    ("business-offer", 30),
    ("business-request", 15),
    ("technology-offer", 8),
    ("technology-request", 5),
    ("job-offer", 25),
    ("job-seeking", 9),
    ("event", 8),
]
STATUSES = [("active", 90), ("expired", 7), ("withdrawn", 3)]

WORDS: dict[str, dict[str, list[str]]] = {
    "pl": {
        "service": "Obróbka CNC|Spawanie konstrukcji stalowych|Cięcie laserowe blach|"
        "Produkcja mebli dębowych|Montaż żaluzji i rolet|Lakierowanie proszkowe|"
        "Toczenie i frezowanie|Suszenie drewna|Produkcja palet|Gięcie rur|"
        "Projektowanie form wtryskowych|Usługi stolarskie|Sprzedaż tarcicy|"
        "Ślusarstwo przemysłowe|Galwanizacja elementów|Kucie stali|Obróbka skrawaniem|"
        "Drzwi drewniane na wymiar|Schody z drewna|Konstrukcje aluminiowe".split("|"),
        "job": "Spawacz MIG/MAG|Operator CNC|Stolarz meblowy|Tokarz|Ślusarz|Lakiernik|"
        "Technolog produkcji|Magazynier|Konstruktor mechanik|Operator wózka widłowego|"
        "Frezer|Monter konstrukcji".split("|"),
        "event": "Targi|Forum|Konferencja|Szkolenie|Spotkanie B2B|Warsztaty".split("|"),
        "topic": "przemysłu drzewnego|obróbki metali|meblarstwa|automatyki|"
        "eksportu na Litwę|współpracy transgranicznej".split("|"),
        "company": "Metal-Tech Sp. z o.o.|Drewpol S.A.|Zakład Ślusarski Łukasz Żak|"
        "Fabryka Mebli Dąb|Spółka Stalmot|PHU Wiórek|Tartak Gołdap|Huta Świętokrzyska"
        "".split("|"),
        "sentence": [
            "{company} z miejscowości {town} oferuje {service_l} na zlecenie.",
            "Szukamy partnera do współpracy przy projekcie w {town}.",
            "Zatrudnimy pracownika na stanowisko {job_l}; umowa o pracę, 3 zmiany.",
            "Realizujemy zamówienia dla klientów z Polski, Litwy i Niemiec.",
            "Oferujemy krótkie terminy, certyfikat ISO 9001 i własny transport.",
            "Zapraszamy firmy z regionu na {event_l} {topic} w {town}.",
            "Park maszynowy: centra obróbcze, prasy krawędziowe, piły taśmowe.",
            "Cena do uzgodnienia, możliwa faktura VAT i płatność w euro.",
            "Kontakt: biuro@{slug}.pl, tel. +48 85 {num} {num}.",
            "Wymagane doświadczenie w branży i znajomość rysunku technicznego.",
        ],
        "category": "Obróbka metali|Meble|Drewno|Praca|Wydarzenia|Usługi|Technologie"
        "".split("|"),
    },
    "lt": {
        "service": "Metalo apdirbimas CNC|Suvirinimo paslaugos|Lazerinis pjovimas|"
        "Baldų gamyba iš ąžuolo|Medinės žaliuzės|Miltelinis dažymas|"
        "Tekinimas ir frezavimas|Medienos džiovinimas|Padėklų gamyba|Vamzdžių lenkimas|"
        "Staliaus paslaugos|Pjautinė mediena|Metalinės konstrukcijos|Laiptų gamyba"
        "".split("|"),
        "job": "Suvirintojas|CNC operatorius|Stalius|Tekintojas|Šaltkalvis|Dažytojas|"
        "Sandėlininkas|Gamybos technologas|Krautuvo vairuotojas|Frezuotojas".split("|"),
        "event": "Paroda|Forumas|Konferencija|Mokymai|Verslo susitikimai".split("|"),
        "topic": "medienos pramonės|metalo apdirbimo|baldų gamybos|eksporto į Lenkiją|"
        "tarpvalstybinio bendradarbiavimo".split("|"),
        "company": "UAB Medžio meistrai|UAB Metalas ir Ko|AB Žalgiris Baldai|"
        "UAB Šilas|UAB Ąžuolynė|UAB Plienas".split("|"),
        "sentence": [
            "{company} ({town}) siūlo {service_l} pagal užsakymą.",
            "Ieškome partnerio bendram projektui {town}.",
            "Įdarbiname darbuotoją: {job_l}; darbo sutartis, pamaininis darbas.",
            "Vykdome užsakymus klientams iš Lietuvos, Lenkijos ir Vokietijos.",
            "Siūlome trumpus terminus, ISO 9001 sertifikatą ir savo transportą.",
            "Kviečiame regiono įmones į renginį: {event_l} {topic}, {town}.",
            "Įranga: apdirbimo centrai, lankstymo presai, juostiniai pjūklai.",
            "Kaina sutartinė, galima sąskaita faktūra ir apmokėjimas eurais.",
            "Kontaktai: info@{slug}.lt, tel. +370 {num} {num}.",
        ],
        "category": "Metalo apdirbimas|Baldai|Mediena|Darbas|Renginiai|Paslaugos".split(
            "|"
        ),
    },
    "en": {
        "service": "CNC machining|Steel structure welding|Laser cutting of sheet metal|"
        "Oak furniture production|Wooden blinds|Powder coating|Turning and milling|"
        "Timber drying|Pallet production|Tube bending|Joinery services|Sawn timber"
        "".split("|"),
        "job": "Welder|CNC operator|Furniture carpenter|Turner|Locksmith|Painter|"
        "Warehouse worker|Production engineer|Forklift driver".split("|"),
        "event": "Fair|Forum|Conference|Training|B2B meeting|Workshop".split("|"),
        "topic": "of the wood industry|on metalworking|on furniture making|"
        "on cross-border cooperation".split("|"),
        "company": "Baltic Steel Ltd|Forest Works|Nemunas Engineering|"
        "Grodno Machine Works|Amber Joinery".split("|"),
        "sentence": [
            "{company} from {town} offers {service_l} to order.",
            "We are looking for a partner for a joint project in {town}.",
            "We are hiring: {job_l}; full-time contract, shift work.",
            "We deliver to customers in Poland, Lithuania and Germany.",
            "Short lead times, ISO 9001 certificate and our own transport.",
            "Companies of the region are invited to the {event_l} {topic} in {town}.",
            "Machinery: machining centres, press brakes, band saws.",
            "Price negotiable, invoices in euro, payment by bank transfer.",
            "Contact: office@{slug}.eu, phone +44 {num} {num}.",
        ],
        "category": "Metalworking|Furniture|Timber|Jobs|Events|Services|Technology"
        "".split("|"),
    },
}


# fold(a + b) == fold(a) + fold(b) when b starts with no combining mark, so rows are
# folded piece by piece from a cache: ~10x faster than folding each whole text
# (checked against hub.text.fold on every 1000th row).
_fold = functools.lru_cache(maxsize=None)(fold)


def weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def make_offer(rng: random.Random, i: int, cluster: tuple[Any, ...]) -> dict[str, Any]:
    slug, country, languages, _sector = cluster
    lang = rng.choice(languages)
    w = WORDS[lang]
    kind = weighted(rng, KINDS)
    places = _places(country)
    place = rng.choice(places)
    # Offers name their town in their own language (search expands other names).
    town = place.names.get(lang) or place.names["en"]
    service, job = rng.choice(w["service"]), rng.choice(w["job"])
    event, topic = rng.choice(w["event"]), rng.choice(w["topic"])
    if kind.startswith("job"):
        title = f"{job} – {town}"
    elif kind == "event":
        title = f"{event} {topic} – {town}"
    else:
        title = f"{service} – {town}"
    fill = {
        "company": rng.choice(w["company"]),
        "town": town,
        "service_l": service.lower(),
        "job_l": job.lower(),
        "event_l": event.lower(),
        "topic": topic,
        "slug": slug,
    }
    # Two paragraphs of 3-6 sentences: ~700 characters, like a member site's offer.
    sentences = [
        *rng.sample(w["sentence"], rng.randint(3, 6)),
        *rng.sample(w["sentence"], rng.randint(3, 6)),
    ]
    numbers = [rng.randint(100, 999) for _ in sentences]
    body = " ".join(
        s.format(**fill, num=n) for s, n in zip(sentences, numbers, strict=True)
    )
    folded_fill = {k: _fold(v) for k, v in fill.items()}
    folded_body = " ".join(
        _fold(s).format(**folded_fill, num=n)
        for s, n in zip(sentences, numbers, strict=True)
    )
    categories = rng.sample(w["category"], rng.randint(1, 2))
    published = NOW - timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
    return {
        "guid": f"https://{slug}.example/offers/{i}",
        "kind": kind,
        "title": title,
        "body_html": f"<p>{body}</p>",
        "body_text": body,
        "language": lang,
        "country": country,
        "town": place.names.get("en"),
        "categories": categories,
        "url": f"https://{slug}.example/offers/{i}",
        "published_at": published,
        "status": weighted(rng, STATUSES),
        "content_hash": f"{i:064x}",
        # As hub.normalize writes it.
        "search_text": " ".join(
            [_fold(title), _fold(" ".join(categories)), folded_body]
        ),
        "first_seen_at": published,
        "last_seen_at": NOW,
    }


_PLACES: dict[str, list[Any]] = {}


def _places(country: str) -> list[Any]:
    if country not in _PLACES:
        _PLACES[country] = [p for p in list_places() if p.country == country] or list(
            list_places()
        )
    return _PLACES[country]


def iter_offers(seed: int, count: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(cluster index, row) for ``count`` offers, the same for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        c = rng.randrange(len(CLUSTERS))
        row = make_offer(rng, i, CLUSTERS[c])
        if i % 1000 == 0:
            text = " ".join(
                [row["title"], " ".join(row["categories"]), row["body_text"]]
            )
            assert row["search_text"] == fold(text), "fast_fold drifted from fold"
        yield c, row


def generate(url: str, count: int, seed: int = 8, reset: bool = True) -> float:
    """Fill the database at ``url`` with ``count`` offers; returns seconds taken."""
    engine = hub_db.make_engine(url)
    _create_schema(engine)
    if reset:
        command.downgrade(hub_db.alembic_config(engine), "base")
    hub_db.upgrade(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        # Bulk load: drop the search index, insert, then build it in one pass (what
        # the triggers would do row by row, 2-3x slower; tests cover the triggers).
        search_ddl.uninstall(connection)
        source_ids: dict[int, list[tuple[int, int]]] = {}
        for c, (slug, country, languages, sector) in enumerate(CLUSTERS):
            cluster_id = connection.execute(
                sa.insert(Cluster).returning(Cluster.id),
                dict(slug=slug, name={"en": slug}, description={}, country=country,
                     sector=sector, homepage=f"https://{slug}.example/",
                     languages=list(languages), active=True),
            ).scalar_one()  # fmt: skip
            source_ids[c] = []
            for s in range(SOURCES_PER_CLUSTER):
                source_id = connection.execute(
                    sa.insert(Source).returning(Source.id),
                    dict(key=f"{slug}/feed-{s}", cluster_id=cluster_id, type="rss",
                         url=f"https://{slug}.example/feed-{s}.xml",
                         interval_seconds=3600, options={}, active=True,
                         next_check_at=NOW, consecutive_errors=0),
                ).scalar_one()  # fmt: skip
                source_ids[c].append((source_id, cluster_id))
        rows: list[dict[str, Any]] = []
        for i, (c, row) in enumerate(iter_offers(seed, count)):
            source_id, cluster_id = source_ids[c][i % SOURCES_PER_CLUSTER]
            rows.append({**row, "source_id": source_id, "cluster_id": cluster_id})
            if len(rows) == CHUNK:
                connection.execute(sa.insert(Offer), rows)
                rows = []
        if rows:
            connection.execute(sa.insert(Offer), rows)
        inserted = time.perf_counter()
        search_ddl.install(connection)
    print(
        f"insert {inserted - started:.1f} s, "
        f"index {time.perf_counter() - inserted:.1f} s",
        file=sys.stderr,
    )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.exec_driver_sql("VACUUM ANALYZE offers")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def _create_schema(engine: sa.Engine) -> None:
    """The schema named by ``?options=-csearch_path=NAME`` (PostgreSQL), if missing."""
    options = str(engine.url.query.get("options", ""))
    if engine.dialect.name == "postgresql" and options.startswith("-csearch_path="):
        schema = options.removeprefix("-csearch_path=").split(",")[0]
        with engine.begin() as connection:
            quoted = connection.dialect.identifier_preparer.quote(schema)
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    seconds = generate(args.database_url, args.offers, args.seed)
    print(
        f"{args.offers} offers in {seconds:.1f} s "
        f"({args.offers / seconds:,.0f} offers/s) into {args.database_url}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
