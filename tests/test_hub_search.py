"""Search on SQLite FTS5 and PostgreSQL: one corpus, the same answers on both engines.

Every test runs once per engine (the ``sessions`` fixture); expectations are constants,
so passing on both means both engines return identical lists.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from lxml import html
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from hub import db as hub_db
from hub import search
from hub import search_ddl
from hub import search_engines
from hub import search_plan
from hub import search_query
from hub.models import Cluster
from hub.models import Offer
from hub.models import Source
from hub.search import ALL_FACETS
from hub.search import FACETS
from hub.search import JOB_KINDS
from hub.search import OfferQuery
from hub.search import facet_counts
from hub.search import search_offers
from hub.text import fold

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Item:
    guid: str
    cluster: str
    kind: str
    language: str
    title: str
    categories: tuple[str, ...]
    body: str
    days_ago: float
    status: str = "active"
    town: str | None = None
    organisation: str | None = None


CORPUS = [
    Item(
        "cnc",
        "metal",
        "business-offer",
        "pl",
        "Obróbka CNC – toczenie i frezowanie",
        ("Obróbka metali",),
        "Spółka Metal-Tech z Łodzi (Łódź): usługi skrawaniem, e-mail biuro@mt.pl.",
        10,
        town="Białystok",
    ),
    Item(
        "welder",
        "metal",
        "job-offer",
        "pl",
        "Spawacz MIG/MAG – Ełk",
        ("Praca",),
        "Zatrudnimy spawacza w Ełku. Umowa o pracę, 3.5 tys. zł.",
        5,
        town="Ełk",
    ),
    Item(
        "blinds",
        "wood",
        "business-offer",
        "lt",
        "Medinės žaliuzės – gamyba pagal užsakymą",
        ("Baldai",),
        "Gaminame medines žaliuzes Druskininkuose ir Lazdijuose.",
        20,
        town="Druskininkai",
    ),
    Item(
        "forum",
        "wood",
        "event",
        "lt",
        "Medienos pramonės forumas Vilniuje",
        ("Renginys",),
        "Forumas vyks Vilniuje; dalyvauja įmonės iš Kauno.",
        2,
        town="Vilnius",
    ),
    Item(
        "wanted",
        "wood",
        "business-request",
        "en",
        "Wooden blinds supplier wanted",
        ("Request",),
        "We look for a partner in Druskininkai for žaliuzės, blinds.",
        40,
    ),
    Item(
        "lathe",
        "metal",
        "business-offer",
        "ru",
        "Токарная обработка металла",
        ("Металлообработка",),
        "Предприятие в Гродно ищет партнёров. ЁЛКА Й.",
        30,
        town="Гродно",
    ),
    Item(
        "archive",
        "metal",
        "business-offer",
        "pl",
        "Obróbka laserowa – archiwum",
        ("Obróbka metali",),
        "Oferta wygasła.",
        1,
        status="expired",
    ),
    Item(
        "sheet",
        "metal",
        "business-offer",
        "pl",
        "Cięcie blach laserem",
        ("Cięcie",),
        "Również obróbka CNC na zlecenie, Suwałki.",
        1.5,
        town="Suwałki",
    ),
    Item(
        "pallets-new",
        "wood",
        "business-request",
        "pl",
        "Dostawa palet",
        ("Palety",),
        "Kontrakt na dostawę palet drewnianych.",
        1,
    ),
    Item(
        "pallets-old",
        "wood",
        "business-request",
        "pl",
        "Dostawa palet",
        ("Palety",),
        "Kontrakt na dostawę palet drewnianych.",
        200,
    ),
]
ACTIVE = [
    i.guid for i in sorted(CORPUS, key=lambda i: i.days_ago) if i.status == "active"
]


def search_text(
    title: str, categories: tuple[str, ...], body: str, organisation: str | None = None
) -> str:
    """As hub.normalize writes it: fold(title + organisation + categories + body)."""
    return fold(" ".join([title, organisation or "", " ".join(categories), body]))


def add_offer(db: Session, item: Item, sources: dict[str, Source]) -> Offer:
    source = sources[item.cluster]
    published = NOW - timedelta(days=item.days_ago)
    offer = Offer(
        source_id=source.id, cluster_id=source.cluster_id, guid=item.guid,
        kind=item.kind, title=item.title, body_html=f"<p>{item.body}</p>",
        body_text=item.body, language=item.language,
        country=source.cluster.country, town=item.town,
        categories=list(item.categories), published_at=published,
        status=item.status, content_hash=item.guid,
        search_text=search_text(
            item.title, item.categories, item.body, item.organisation
        ),
        organisation_name=item.organisation,
        first_seen_at=published, last_seen_at=NOW,
    )  # fmt: skip
    db.add(offer)
    return offer


@pytest.fixture
def corpus(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as db:
        sources = {}
        for slug, country in (("metal", "PL"), ("wood", "LT")):
            cluster = Cluster(
                slug=slug, name={"en": slug}, description={}, country=country,
                sector="industry", homepage=f"https://{slug}.example/",
                languages=["pl"],
            )  # fmt: skip
            db.add(cluster)
            db.flush()
            sources[slug] = Source(
                key=f"{slug}/offers", cluster_id=cluster.id, type="rss",
                url=f"https://{slug}.example/feed", interval_seconds=3600, options={},
                next_check_at=NOW, consecutive_errors=0, cluster=cluster,
            )  # fmt: skip
            db.add(sources[slug])
        db.flush()
        for item in CORPUS:
            add_offer(db, item, sources)
        db.commit()
    return sessions


def guids(sessions: sessionmaker[Session], text: str = "", **kwargs: Any) -> list[str]:
    with sessions() as db:
        page = search_offers(db, OfferQuery(text=text, per_page=100, **kwargs), NOW)
        return [o.guid for o in page.offers]


# --- folding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("lodz", "cnc"),  # Łódź, and Łodzi by the prefix rule
        ("LODZ metal", "cnc"),
        ("spolka", "cnc"),  # Spółka
        ("obrobka toczenie", "cnc"),  # obróbka
        ("zaliuzes gamyba", "blinds"),  # žaliuzės
        ("Žaliuzės", "blinds"),
        ("елка", "lathe"),  # ЁЛКА: ё folds to е
        ("ёлка", "lathe"),
        ("обработка", "lathe"),
        ("и", "lathe"),  # Й folds to и, as in hub.text.fold
    ],
)
def test_search_is_blind_to_case_and_diacritics(
    corpus: sessionmaker[Session], text: str, found: str
) -> None:
    assert found in guids(corpus, text)


def test_identical_ranked_lists_on_both_engines(corpus: sessionmaker[Session]) -> None:
    # Title matches first, then body-only ones; equal text: the newer first.
    assert guids(corpus, "obrobka") == ["cnc", "sheet"]
    assert guids(corpus, "zaliuzes") == ["blinds", "wanted"]
    assert guids(corpus, "palet") == ["pallets-new", "pallets-old"]
    assert guids(corpus, "druskininkai") == ["blinds", "wanted"]
    assert guids(corpus, "") == ACTIVE
    assert guids(corpus, "a", sort="date") == guids(corpus, "a", sort="relevance")


# Walk the id index; collect every match; collect above a floor so high that the
# window is not full above it: the same statement reads on below it.
PLANS = {
    "walk": search_plan.Choice(collect=False),
    "collect": search_plan.Choice(collect=True),
    "floor": search_plan.Choice(collect=True, span=1.0),
}


@pytest.mark.parametrize("plan", sorted(PLANS))
@pytest.mark.parametrize("window", [1, 1000])
def test_postgresql_finds_the_same_whichever_way_it_reads(
    corpus: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    plan: str,
    window: int,
) -> None:
    bind = corpus.kw["bind"]
    if bind.dialect.name != "postgresql":
        pytest.skip("PostgreSQL picks between three ways to read a window")
    expected = {
        text: guids(corpus, text)
        for text in ("obrobka", '"toczenie i frezowanie"', "zaliuzes -gamyba", "a")
    }
    assert expected["obrobka"] == ["cnc", "sheet"]
    monkeypatch.setattr(search, "WINDOW", window)
    monkeypatch.setattr(search_plan, "choose", lambda _: PLANS[plan])
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("WITH") and "search_vector @@" in statement:
            reads.append(statement)

    sa.event.listen(bind, "before_cursor_execute", record)
    try:
        for text, found in expected.items():
            with corpus() as db:
                query = OfferQuery(text=text, per_page=100)
                assert [o.guid for o in search_offers(db, query, NOW).offers] == found
    finally:
        sa.event.remove(bind, "before_cursor_execute", record)
    # Collecting orders by an expression the id index cannot give; a read above a
    # floor goes on below it in the same statement: one read per search.
    assert all(("offers.id + " in r) is (plan != "walk") for r in reads)
    assert len(reads) == len(expected)
    floored = [r for r in reads if "offers.id > " in r and "offers.id <= " in r]
    assert bool(floored) is (plan == "floor")


def test_the_cheapest_way_to_a_window_follows_the_words_share() -> None:
    def way(matches: float, entries: float | None = None, low: float = 0) -> str:
        est = search_plan.Estimates(
            offers=1e6,
            entries=entries or matches,
            low=low or matches,
            most=matches,
        )
        choice = search_plan.choose(est)
        return "floor" if choice.span else "collect" if choice.collect else "walk"

    assert way(500) == "collect"  # a rare word: read every match
    assert way(700_000) == "walk"  # in most offers: the newest soon fill a window
    assert way(20_000) == "floor"  # a few percent: only the newest matches
    # Words typed together, as rare as the planner thinks or as their rarest word:
    # walking is priced as if rare, so not chosen.
    assert way(80_000, entries=220_000, low=10_000) == "floor"
    # A floor is set where a window of the most likely matches lies: lower for fewer.
    spans = [search_plan.choose(search_plan.Estimates(1e6, m, m, m)).span for m in (
        20_000, 40_000)]  # fmt: skip
    assert spans[0] and spans[1] and spans[0] > spans[1]


def test_postgresql_estimates_bound_the_matches(
    corpus: sessionmaker[Session],
) -> None:
    bind = corpus.kw["bind"]
    if bind.dialect.name != "postgresql":
        pytest.skip("the planner's estimates are PostgreSQL's")
    with corpus() as db:
        db.execute(sa.text("ANALYZE offers"))
        parsed = search_query.parse("obrobka cnc")
        engine = search_engines.Postgres()
        vector = sa.literal_column("offers.search_vector")
        match = sa.and_(*engine.match(parsed))
        est = search_plan.estimate(db, parsed, [], match, search_engines._matching)
        # Filters of every form a search makes (a list, JSON, a subquery) pass.
        query = OfferQuery(kinds=("business-offer",), sector="25", cluster="metal")
        filters = search.offer_filters(query, engine, NOW)
        filtered = search_plan.estimate(
            db, parsed, filters, match, search_engines._matching
        )
        total = db.scalar(sa.select(sa.func.count()).select_from(Offer))
        holding = [
            db.scalar(
                sa.select(sa.func.count())
                .select_from(Offer)
                .where(vector.op("@@")(sa.func.to_tsquery("simple", word)))
            )
            for word in ("obrobka", "cnc:*")
        ]
    assert est.offers == pytest.approx(total, abs=1)
    # Each word's matches are the GIN entries read; the text is found in no more
    # offers than hold its rarer word.
    assert est.entries == pytest.approx(sum(holding), abs=2)
    assert est.most == pytest.approx(min(holding), abs=1)
    assert 1 <= est.low <= est.high and not est.rechecked
    assert filtered.low <= est.low and filtered.most == est.most
    assert search_plan.rechecked(search_query.parse('"toczenie i frezowanie"'))
    assert search_plan.rechecked(search_query.parse("zaliuzes -gamyba"))


def test_title_ranks_above_a_newer_body_mention(corpus: sessionmaker[Session]) -> None:
    # "sheet" (1 day old) says obróbka in its body; "cnc" (10 days) in its title.
    assert guids(corpus, "obrobka cnc") == ["cnc", "sheet"]
    assert guids(corpus, "obrobka cnc", sort="date") == ["sheet", "cnc"]


def test_the_organisation_ranks_above_a_newer_body_mention(
    corpus: sessionmaker[Session],
) -> None:
    with corpus() as db:
        sources = {s.cluster.slug: s for s in db.scalars(sa.select(Source))}
        for item in (
            Item("forge", "metal", "business-offer", "pl", "Kucie matrycowe",
                 ("Kuźnia",), "Odkuwki stalowe na zamówienie.", 20,
                 organisation="Kuźnia Hutmen Sp. z o.o."),
            Item("scrap", "metal", "business-request", "pl", "Skup złomu",
                 ("Złom",), "Odbieramy złom, także od hut (np. Hutmen).", 2),
        ):  # fmt: skip
            add_offer(db, item, sources)
        db.commit()
    assert guids(corpus, "hutmen") == ["forge", "scrap"]
    assert guids(corpus, "hutmen", sort="date") == ["scrap", "forge"]


# --- syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zaliuz", ["blinds", "wanted"]),  # last word: a prefix
        ("zaliuz medines", []),  # not last: a whole word
        ("zaliuz* medines", ["blinds"]),  # explicit prefix
        ("spaw", ["welder"]),
        ("s", []),  # too short for a prefix: the word "s" only
        ('"toczenie i frezowanie"', ["cnc"]),
        ('"frezowanie i toczenie"', []),
        ('"toczenie i', ["cnc"]),  # an unclosed quote runs to the end
        ('"toczenie frezowanie"', []),
        ("mig/mag", ["welder"]),  # a phrase of its parts
        ("metal-tech", ["cnc"]),
        ("e-mail", ["cnc"]),
        ("biuro@mt.pl", ["cnc"]),
        ("3.5", ["welder"]),
        ("zaliuzes -blinds", ["blinds"]),
        ("blinds -druskininkai", []),
        ('palet -"drewnianych"', []),
        ("obrobka -cnc -cięcie", []),
        ("-blinds", [g for g in ACTIVE if g != "wanted"]),
        (
            '-"wooden blinds" -palet',
            [g for g in ACTIVE if g not in ("wanted", "pallets-new", "pallets-old")],
        ),
    ],
)
def test_prefix_phrase_and_exclusion(
    corpus: sessionmaker[Session], text: str, expected: list[str]
) -> None:
    assert guids(corpus, text) == expected


HOSTILE = [
    '"', '""', '"""', "*", "**", ":", "^", "(", ")", "()", "(((", "AND", "OR", "NOT",
    "NEAR", "NEAR(", "NEAR(a b, 3)", "a OR b", "a AND", "OR a", "a NOT", "-", "--",
    "- -", "-*", '-"', "title:obrobka", "search_text:x", "{title}: x", "x:y", "a + b",
    "^zaliuz", "*zaliuz", "zal*iuz", "'", "''", "' OR 1=1 --", "\\", "\\'", "%",
    "_", "%_%", "; DROP TABLE offers; --", "🙂", "\x00", "\t\n", "a" * 5000,
    "x " * 300, "'simple'", "&", "|", "!", "<->", "a:*", "a & !b", "ł" * 3,
    "\u0301", "ﬁ", "½", "Ⅻ", "ǅ", "ß", "İ", "\u200b", "\ufeff", "\\u0000", "'a':A",
    '"a" NEAR/2 "b"', "obrobka)", "(obrobka", '"obrobka"*', "obrobka^", "-(-(-",
]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_query_text_never_raises(
    corpus: sessionmaker[Session], text: str
) -> None:
    with corpus() as db:
        query = OfferQuery(text=text, facets=True)
        page = search_offers(db, query, NOW)
        assert page.total >= len(page.offers)
        assert set(facet_counts(db, query)) == set(FACETS)


def test_operators_are_words_not_syntax(corpus: sessionmaker[Session]) -> None:
    assert guids(corpus, "toczenie AND frezowanie") == ["cnc"]
    assert guids(corpus, "NEAR(toczenie frezowanie)") == []
    assert guids(corpus, "(obrobka) cnc^") == ["cnc", "sheet"]


# --- places -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Druskienniki", ["blinds", "wanted"]),  # PL name; offers say Druskininkai
        ("Друскининкай", ["blinds", "wanted"]),
        ("Łoździeje", ["blinds"]),  # the offer says Lazdijuose
        ("Лаздийи", ["blinds"]),
        ("Wilno", ["forum"]),  # the offer says Vilniuje
        ("Grodno", ["lathe"]),  # Гродно
        ("Hrodna", ["lathe"]),
        ("Kowno", ["forum"]),  # Kauno
        ('"Wilno" forumas', ["forum"]),
        ("-Wilno medienos", []),
        ("Suwałki obrobka", ["sheet"]),
    ],
)
def test_a_place_matches_its_names_in_every_language(
    corpus: sessionmaker[Session], text: str, expected: list[str]
) -> None:
    assert guids(corpus, text) == expected


def test_town_filter_accepts_any_name_of_the_place(
    corpus: sessionmaker[Session],
) -> None:
    assert guids(corpus, town="Druskienniki") == ["blinds"]
    assert guids(corpus, town="Hrodna") == ["lathe"]
    assert guids(corpus, town="Nowhere") == []


# --- filters, sort, paging, facets --------------------------------------------------


def test_filters(corpus: sessionmaker[Session]) -> None:
    assert guids(corpus, kind="job-offer") == ["welder"]
    assert guids(corpus, "obrobka", cluster="wood") == []
    assert guids(corpus, country="LT", language="en") == ["wanted"]
    assert guids(corpus, "obrobka", status=None, sort="date") == [
        "archive",
        "sheet",
        "cnc",
    ]
    assert "archive" not in guids(corpus, "laserowa")


def test_filters_with_text_follow_changed_offers(
    corpus: sessionmaker[Session],
) -> None:
    """PostgreSQL's GIN index answers kind, language and country with the words
    (migration 0014): a changed offer moves between filters at once."""
    assert sorted(guids(corpus, "obrobka", kind="business-offer", country="PL")) == [
        "cnc",
        "sheet",
    ]
    with corpus.begin() as db:
        db.execute(
            sa.update(Offer)
            .where(Offer.guid == "sheet")
            .values(kind="business-request", language="en", country="LT")
        )
    assert guids(corpus, "obrobka", kind="business-offer", country="PL") == ["cnc"]
    assert guids(corpus, "obrobka", kind="business-request", country="LT") == ["sheet"]
    assert guids(corpus, "obrobka", language="en", kinds=JOB_KINDS) == []
    assert guids(corpus, "obr", language="en", kinds=("business-request",)) == ["sheet"]
    assert_index_matches_table(corpus)


@pytest.mark.parametrize(
    "filters",
    [
        {"kind": "job-offer"},
        {"kinds": JOB_KINDS, "country": "PL"},
        {"language": "pl", "kind": "business-offer"},
    ],
)
def test_postgresql_asks_the_gin_index_for_the_filters(
    corpus: sessionmaker[Session], filters: dict[str, Any]
) -> None:
    """A filtered search reads from the heap only the rows that pass the filters
    (bench/README.md): the filters are in the index condition, with the words."""
    with corpus() as db:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL's vector holds the filters")
        query = OfferQuery(text="obrobka", **filters)
        engine = search_engines.engine_for(db)
        match = engine.match(
            search_query.parse(query.text), search.index_filters(query)
        )
        db.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a few rows: use GIN
        explain = search_plan.Explain(sa.select(Offer.id).where(*match))
        condition = json.dumps(db.execute(explain).scalar_one())
    assert search_ddl.PG_INDEX in condition
    for column, lexeme in search_ddl.PG_FILTER_LEXEMES.items():
        values = filters.get(column) or ()
        values = (values,) if isinstance(values, str) else values
        if column == "kind" and "kinds" in filters:
            values = (*values, *filters["kinds"])
        for value in values:
            assert f"{lexeme}{value}" in condition
        if not values:
            assert lexeme not in condition


def test_postgresql_plans_each_search_for_its_words_without_jit(
    corpus: sessionmaker[Session],
) -> None:
    """A search is planned for its own words, on one core, and not compiled: the
    settings hold for the search's transaction only (bench/README.md)."""
    settings = ("plan_cache_mode", "max_parallel_workers_per_gather", "jit")
    with corpus() as db:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL planner settings")
        before = [db.scalar(sa.text(f"SHOW {name}")) for name in settings]
        search_offers(db, OfferQuery(text="obrobka", facets=True), NOW)
        during = [db.scalar(sa.text(f"SHOW {name}")) for name in settings]
        db.rollback()
        after = [db.scalar(sa.text(f"SHOW {name}")) for name in settings]
    assert during == ["force_custom_plan", "0", "off"]
    assert after == before != during


def test_typed_text_never_reaches_the_filter_lexemes(
    corpus: sessionmaker[Session],
) -> None:
    # '~k:job-offer' is folded into the words k, job, offer: no offer holds all three.
    assert guids(corpus, "~k:job-offer") == []
    assert guids(corpus, "'~c:PL'") == []
    assert guids(corpus, "~c:PL spawacz") == []


def test_filter_values_that_no_offer_holds_find_nothing(
    corpus: sessionmaker[Session],
) -> None:
    # Quotes, backslashes and lengths no column holds, from a URL: no error.
    for value in ("x' | '~k:job-offer", "a\\", "k" * 5000, ""):
        assert guids(corpus, "spawacz", kind=value) == ([] if value else ["welder"])


def test_date_sort_is_newest_first(corpus: sessionmaker[Session]) -> None:
    assert guids(corpus, "palet", sort="date") == ["pallets-new", "pallets-old"]
    assert guids(corpus, "", sort="date") == ACTIVE


def test_pages(corpus: sessionmaker[Session]) -> None:
    with corpus() as db:
        page = search_offers(db, OfferQuery(per_page=4, page=3), NOW)
        assert (page.total, page.pages, page.page, page.per_page) == (9, 3, 3, 4)
        assert [o.guid for o in page.offers] == ACTIVE[8:]
        assert page.offers[0].cluster.slug == "wood"


def test_facet_counts_leave_out_their_own_filter(corpus: sessionmaker[Session]) -> None:
    with corpus() as db:
        assert facet_counts(db, OfferQuery()) == {
            "kind": [("business-offer", 4), ("business-request", 3), ("event", 1),
                     ("job-offer", 1)],
            "cluster": [("wood", 5), ("metal", 4)],
            "country": [("LT", 5), ("PL", 4)],
            "language": [("pl", 5), ("lt", 2), ("en", 1), ("ru", 1)],
        }  # fmt: skip
        picked = OfferQuery(text="zaliuz", kind="business-request", facets=True)
        page = search_offers(db, picked, NOW)
        assert [o.guid for o in page.offers] == ["wanted"]
        assert page.facets == {
            "kind": [("business-offer", 1), ("business-request", 1)],
            "cluster": [("wood", 1)],
            "country": [("LT", 1)],
            "language": [("en", 1)],
        }
        # Newest first: the same offers, total and counts (one window, read once).
        by_date = search_offers(db, dataclasses.replace(picked, sort="date"), NOW)
        assert [o.guid for o in by_date.offers] == ["wanted"]
        assert (by_date.total, by_date.facets) == (page.total, page.facets)


# --- bounded work (issue 8): WINDOW lowered so that the small corpus exceeds it ---


# "na", "pal": prefixes the FTS5 prefix index holds (probed per offer); "obrob": a
# longer one (collected once); "-zaliuzes": exclusion only.
@pytest.mark.parametrize("text", ["", "na", "pal", "obrob", "-zaliuzes"])
def test_beyond_the_window_every_match_is_still_found_once(
    corpus: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    with corpus() as db:
        query = OfferQuery(text=text, per_page=100, sort="date")
        page = search_offers(db, query, NOW)
        by_date = [(o.id, o.guid) for o in page.offers]
        assert (page.total, page.total_is_lower_bound) == (len(by_date), False)
    assert len(by_date) > 1
    monkeypatch.setattr(search, "WINDOW", 1)
    # Date order stays exact (the date index walked, each offer probed).
    assert guids(corpus, text, sort="date") == [g for _, g in by_date]
    with corpus() as db:
        page = search_offers(db, dataclasses.replace(query, per_page=1), NOW)
        assert (page.total, page.total_is_lower_bound) == (1, True)
    newest = {g for _, g in sorted(by_date, reverse=True)[:2]}
    for per_page in (1, 2, 3):
        seen: list[str] = []
        with corpus() as db:
            for number in range(1, 20):
                query = OfferQuery(text=text, page=number, per_page=per_page)
                page = search_offers(db, query, NOW)
                assert (page.total, page.total_is_lower_bound) == (1, True)
                seen += [o.guid for o in page.offers]
                if not page.offers:
                    break
        assert sorted(seen) == sorted(g for _, g in by_date)
        if text and not text.startswith("-"):
            # Relevance ranks the window (the WINDOW + 1 newest matches) first.
            assert set(seen[:2]) == newest


def test_facets_beyond_the_window_are_marked_lower_bounds(
    corpus: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with corpus() as db:
        exact = facet_counts(db, OfferQuery(facets=ALL_FACETS), NOW)
        narrow = OfferQuery(text="zaliuz", facets=ALL_FACETS)
        exact_narrow = search_offers(db, narrow, NOW).facets
        monkeypatch.setattr(search, "WINDOW", 3)
        page = search_offers(db, OfferQuery(facets=ALL_FACETS), NOW)
        assert page.facets_are_lower_bounds and page.total_is_lower_bound
        # Counted over the window: the WINDOW + 1 newest matches.
        assert sum(n for _, n in page.facets["kind"]) == 4
        for name, values in page.facets.items():
            assert all(n <= dict(exact[name])[v] for v, n in values), name
        # Fewer matches than the window: exact, and not marked.
        page = search_offers(db, narrow, NOW)
        assert not page.facets_are_lower_bounds and not page.total_is_lower_bound
        assert page.facets == exact_narrow
        # Filtering by a value still finds every offer that holds it.
        for name, field in (("kind", "kind"), ("country", "country")):
            for value, count in exact[name]:
                query = OfferQuery(per_page=100, sort="date", **{field: value})
                assert len(search_offers(db, query, NOW).offers) == count


def test_a_capped_total_and_sampled_facets_are_marked_on_the_page(
    corpus: sessionmaker[Session],
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "WINDOW", 3)
    doc = html.fromstring(client.get("/en/offers/").data)
    found = doc.cssselect("p.result-count")[0].text_content()
    assert found == "More than 3 offers found"
    counts = [c.text_content() for c in doc.cssselect("section.facet .count")]
    assert counts and all(c.endswith("+") for c in counts)
    assert doc.cssselect("aside.facets p.note")
    monkeypatch.setattr(search, "WINDOW", 1000)
    doc = html.fromstring(client.get("/en/offers/").data)
    assert doc.cssselect("p.result-count")[0].text_content() == "9 offers found"
    assert not doc.cssselect("aside.facets p.note")


# --- the index follows the table ----------------------------------------------------


def test_index_follows_inserts_updates_and_deletes_in_the_transaction(
    corpus: sessionmaker[Session],
) -> None:
    with corpus() as db:
        offer = db.scalar(sa.select(Offer).where(Offer.guid == "blinds"))
        assert offer is not None
        offer.title = "Medinės durys"
        offer.search_text = search_text(offer.title, ("Baldai",), "Durys iš ąžuolo.")
        # Autoflush: the triggers ran inside this transaction, before any commit.
        assert [o.guid for o in search_offers(db, OfferQuery("durys"), NOW).offers] == [
            "blinds"
        ]
        assert search_offers(db, OfferQuery("gamyba"), NOW).offers == []
        db.rollback()
    assert guids(corpus, "gamyba") == ["blinds"]
    assert guids(corpus, "durys") == []
    with corpus() as db:
        db.execute(sa.delete(Offer).where(Offer.guid == "forum"))
        db.execute(
            sa.update(Offer)
            .where(Offer.guid == "welder")
            .values(last_seen_at=NOW, status="withdrawn")
        )
        db.commit()
    assert guids(corpus, "forumas") == []
    assert guids(corpus, "spawacz", status=None) == ["welder"]
    assert_index_matches_table(corpus)


def assert_index_matches_table(sessions: sessionmaker[Session]) -> None:
    """Every offer indexed once, with what the table holds now."""
    with sessions() as db:
        if db.get_bind().dialect.name == "sqlite":
            db.execute(
                sa.text("INSERT INTO offers_fts(offers_fts) VALUES ('integrity-check')")
            )
            indexed = db.scalar(sa.text("SELECT count(*) FROM offers_fts_docsize"))
            assert indexed == db.scalar(sa.select(sa.func.count()).select_from(Offer))
        else:
            stale = db.scalar(
                sa.text(
                    "SELECT count(*) FROM offers WHERE search_vector IS DISTINCT FROM "
                    "ecoop_search_vector(title, organisation_name, categories, "
                    "search_text, kind, language, country)"
                )
            )
            assert stale == 0


def test_migration_down_and_up_reindexes_existing_offers(
    corpus: sessionmaker[Session], engine: sa.Engine
) -> None:
    from alembic import command

    command.downgrade(hub_db.alembic_config(engine), "0001")
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert "offers_fts" not in inspector.get_table_names()
        columns = {c["name"] for c in inspector.get_columns("offers")}
        assert "search_vector" not in columns
    hub_db.upgrade(engine)
    assert guids(corpus, "zaliuzes") == ["blinds", "wanted"]
    assert_index_matches_table(corpus)


def test_postgresql_keeps_the_search_vector_in_the_row(
    corpus: sessionmaker[Session], engine: sa.Engine
) -> None:
    """Migration 0012: a search tests vectors as it walks and ranks; one in TOAST
    costs ~4x more to read. The bodies stay out of line (migration 0010)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    storage = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'offers'::regclass"
    with engine.connect() as connection:
        vector, body = (
            connection.scalar(sa.text(f"{storage} AND attname = :name"), {"name": n})
            for n in ("search_vector", "body_html")
        )
    assert (vector, body) == ("m", "x")  # main: compressed in the row; x: may leave


def test_migration_0009_indexes_the_organisations_of_existing_offers(
    corpus: sessionmaker[Session], engine: sa.Engine
) -> None:
    from alembic import command

    command.downgrade(hub_db.alembic_config(engine), "0008")
    with engine.begin() as connection:
        org = connection.execute(
            sa.text(
                "INSERT INTO organisations (name, name_key, country, identifiers, "
                "description, capabilities, sectors) VALUES ('Zakład Hutmen', "
                "'zaklad hutmen', 'PL', '{}', '', '[]', '[]') RETURNING id"
            )
        ).scalar_one()
        connection.execute(
            sa.text("UPDATE offers SET organisation_id = :org WHERE guid = 'sheet'"),
            {"org": org},
        )
    hub_db.upgrade(engine)
    assert guids(corpus, "hutmen") == ["sheet"]  # its search_text does not name it
    assert_index_matches_table(corpus)


def test_untouched_offers_are_not_reindexed(corpus: sessionmaker[Session]) -> None:
    # An unchanged harvest only touches last_seen_at: the triggers must not fire.
    with corpus() as db:
        # Make the index function fail: a trigger that fired would raise.
        raw = db.connection().connection.driver_connection
        if db.get_bind().dialect.name == "sqlite":
            raw.create_function("ecoop_fold", 1, boom)
        else:
            db.execute(
                sa.text(
                    "DROP FUNCTION "
                    "ecoop_search_vector(text, text, json, text, text, text, text)"
                )
            )
        try:
            db.execute(sa.update(Offer).values(last_seen_at=NOW, status="withdrawn"))
        finally:
            db.rollback()
            if db.get_bind().dialect.name == "sqlite":
                raw.create_function("ecoop_fold", 1, fold, deterministic=True)
    assert_index_matches_table(corpus)


def boom(text: str) -> str:
    raise AssertionError("the search index was rewritten")


# --- one fold -----------------------------------------------------------------------

ALPHABET = (
    "AĄBCĆDEĘFGHIJKLŁMNŃOÓPRSŚTUWYZŹŻ aąbcćdeęfghijklłmnńoóprsśtuwyzźż "
    "AĄBCČDEĘĖFGHIĮYJKLMNOPRSŠTUŲŪVZŽ aąbcčdeęėfghiįyjklmnoprsštuųūvzž "
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ абвгдеёжзийклмнопрстуфхцчшщъыьэюя "
    "ІЎЄЇҐ іўєїґ ßẞæÆøØđĐıħĦ İ ﬁ ½ Ⅻ ǅ Ω é e\u0301 Å ç ñ"
)


def test_postgresql_fold_equals_python_fold(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        name = db.get_bind().dialect.name
        folded = db.scalar(sa.text("SELECT ecoop_fold(:t)"), {"t": ALPHABET})
    assert folded == fold(ALPHABET), name
    for form in ("NFC", "NFD"):
        assert fold(unicodedata.normalize(form, "Łódź")) == "lodz"


def test_max_indexed_chars_cuts_both_engines_alike(
    corpus: sessionmaker[Session],
) -> None:
    with corpus() as db:
        sources = {s.cluster.slug: s for s in db.scalars(sa.select(Source))}
        body = "x " * (search_ddl.MAX_INDEXED_CHARS // 2) + "needle"
        item = Item("long", "metal", "event", "pl", "Long", (), body, 0)
        add_offer(db, item, sources)
        db.commit()
    assert guids(corpus, "needle") == []
    assert guids(corpus, "long") == ["long"]
