"""feeds.writer with feeds.reader: round trips in both formats, feedparser sees the
written Atom as we mean it, and the writer refuses what the profile does not allow."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import feedparser
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lxml import etree

from feeds.__main__ import example_feed
from feeds.profile import ATOM_NS
from feeds.profile import ECO_NS
from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import Category
from feeds.profile import Contact
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import FeedValueError
from feeds.profile import Location
from feeds.profile import Offer
from feeds.profile import OfferKind
from feeds.profile import Organisation
from feeds.reader import read
from feeds.writer import clean_text
from feeds.writer import write_atom
from feeds.writer import write_json_feed

Writer = Callable[..., bytes]
WRITERS = [pytest.param(w, id=w.__name__[6:]) for w in (write_atom, write_json_feed)]
CET = timezone(timedelta(hours=1))
EET = timezone(timedelta(hours=2))
PL = "Zażółć gęślą jaźń – ą ć ę ł ń ó ś ź ż, Ą Ć Ę Ł Ń Ó Ś Ź Ż"
LT = "Įmonė „Čiurlionio baldai“ – č ė į š ų ū ž, Č Ė Į Š Ų Ū Ž"
INFO = FeedInfo(
    title="Klaster Obróbki Metali",
    link="https://metalklaster.example.pl/",
    id="tag:metalklaster.example.pl,2026:offers",
    language="pl",
    complete=True,
    author="Klaster Obróbki Metali",
    updated=datetime(2026, 11, 25, 9, 50, tzinfo=CET),
)


def offer(n: int = 1, **changes: Any) -> Offer:
    base = Offer(
        id=f"tag:metalklaster.example.pl,2026:offer-{n}",
        title=f"Oferta {n}",
        link=f"https://metalklaster.example.pl/oferty/{n}",
        kind=OfferKind.BUSINESS_OFFER,
        language="pl",
        updated=datetime(2026, 11, 25, 9, 50, tzinfo=CET),
        organisation=Organisation("Stal-Łoś Sp. z o.o.", "PL", "Suwałki"),
    )
    return replace(base, **changes)


def round_trip(write: Writer, offers: list[Offer], deleted: Any = ()) -> list[Offer]:
    parsed = read(write(INFO, offers, deleted))
    assert [p for p in parsed.problems if p.severity == "error"] == []
    assert parsed.info == INFO
    assert parsed.deleted == list(deleted)
    return parsed.offers


@pytest.mark.parametrize("write", WRITERS)
def test_the_example_feed_round_trips(write: Writer) -> None:
    info, offers, deleted = example_feed()
    parsed = read(write(info, offers, deleted))
    assert (parsed.info, parsed.offers, parsed.deleted) == (info, offers, deleted)
    assert parsed.problems == []


@pytest.mark.parametrize("write", WRITERS)
def test_polish_and_lithuanian_text_round_trips(write: Writer) -> None:
    offers = [
        offer(1, title=PL, summary=PL, content_html=f"<p>{PL}</p>"),
        offer(2, title=LT, language="lt", summary=LT, location=Location("LT", LT)),
    ]
    offers[1] = replace(
        offers[1],
        organisation=Organisation("UAB „Šilutės ąžuolas“", "LT", "Lazdijai"),
        contact=Contact("Žydrūnė Čėsnaitė", "zydrune@example.lt", "+370 313 5"),
        categories=(Category("ąžuolas"), Category("31.09", SCHEME_NACE, LT)),
    )
    assert round_trip(write, offers) == offers
    assert PL.encode() in write(INFO, offers)  # characters, not references


@pytest.mark.parametrize("write", WRITERS)
def test_html_with_a_script_is_written_escaped_as_given(write: Writer) -> None:
    html = '<p>Oferta</p><script>alert("x")</script><img src=x onerror=alert(1)>'
    item = offer(content_html=html)
    assert round_trip(write, [item]) == [item]  # sanitising is the hub's job
    if write is write_atom:
        assert b"&lt;script&gt;alert(" in write(INFO, [item])


@pytest.mark.parametrize("write", WRITERS)
def test_deleted_entries_round_trip(write: Writer) -> None:
    ref = "tag:metalklaster.example.pl,2026:offer-"
    gone = [Deleted(ref + "9", datetime(2026, 11, 24, 16, tzinfo=CET))]
    gone.append(Deleted(ref + "8", datetime(2026, 11, 1, tzinfo=UTC)))
    assert round_trip(write, [offer()], gone) == [offer()]
    if write is write_atom:  # RFC 6721
        written = write(INFO, [], gone)
        tomb = f'<at:deleted-entry ref="{ref}9" when="2026-11-24T16:00:00+01:00"/>'
        assert tomb.encode() in written


@pytest.mark.parametrize("write", WRITERS)
def test_language_versions_round_trip_with_group_and_alternates(write: Writer) -> None:
    group = "tag:metalklaster.example.pl,2026:group-5"
    pl = offer(
        5,
        group=group,
        alternates={"lt": "https://m.example.lt/5", "en": "https://m.example.eu/5"},
    )
    lt = offer(6, language="lt", title=LT, group=group, alternates={"pl": pl.link})
    assert round_trip(write, [pl, lt]) == [pl, lt]


def test_written_atom_parses_with_feedparser() -> None:
    info, offers, deleted = example_feed()
    written = write_atom(info, offers, deleted)
    assert etree.fromstring(written).nsmap == {None: ATOM_NS, "eco": ECO_NS} | {
        "at": "http://purl.org/atompub/tombstones/1.0",
        "fh": "http://purl.org/syndication/history/1.0",
    }
    parsed = feedparser.parse(written)
    assert parsed.bozo == 0
    feed = parsed.feed
    assert (feed.title, feed.link, feed.id) == (info.title, info.link, info.id)
    assert [(e.id, e.title, e.link) for e in parsed.entries] == [
        (o.id, o.title, o.link) for o in offers
    ]
    assert parsed.entries[0].content[0].value == offers[0].content_html
    assert {t.term for t in parsed.entries[0].tags} == {"25.62", "spawanie"}


def test_written_json_feed_is_a_json_feed_1_1() -> None:
    info, offers, deleted = example_feed()
    doc = json.loads(write_json_feed(info, offers, deleted))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["_ecoop"]["complete"] is True
    assert doc["_ecoop"]["deleted"] == [
        {"ref": deleted[0].ref, "when": "2026-11-24T16:00:00+01:00"}
    ]
    for item in doc["items"]:
        assert {"id", "url", "title"} <= set(item)
        assert "content_html" in item or "content_text" in item
    assert doc["items"][0]["tags"][1:] == ["spawanie"]


@pytest.mark.parametrize("write", WRITERS)
def test_a_company_profile_round_trips(write: Writer) -> None:
    ids, caps = {"nip": "8461234567", "krs": "0000654321"}, ("Suszenie", "Tarcica C24")
    org = Organisation("Tartak", "PL", "Augustów", "https://t.example.pl/", ids, caps)
    company = offer(7, kind=None, organisation=org)
    company = replace(company, categories=(Category("16.10", SCHEME_NACE),))
    (read_back,) = round_trip(write, [company])
    assert read_back == company
    assert read_back.is_company_profile


@pytest.mark.parametrize("write", WRITERS)
def test_a_paged_complete_feed_declares_next_and_complete(write: Writer) -> None:
    info = replace(INFO, next_url="https://metalklaster.example.pl/feed?page=2")
    written = write(info, [offer()])
    assert read(written).info == info
    assert b"fh:complete" not in written  # RFC 5005 §2: no next page in a complete doc
    assert b"<eco:complete>true</eco:complete>" in written or write is write_json_feed
    assert b"<fh:complete/>" in write_atom(INFO, [offer()])  # not paged: both


def test_atom_fills_in_author_and_updated() -> None:
    info = replace(INFO, author=None, updated=None)
    first = offer(1, updated=datetime(2026, 1, 2, tzinfo=UTC))
    second = offer(2, updated=None, published=datetime(2026, 3, 4, tzinfo=UTC))
    parsed = read(write_atom(info, [first, second]))
    assert parsed.info.author == info.title
    assert parsed.info.updated == datetime(2026, 3, 4, tzinfo=UTC)
    assert parsed.offers[1].updated == second.published


def test_an_empty_atom_feed_needs_an_updated_time() -> None:
    with pytest.raises(FeedValueError, match=r"info.updated"):
        write_atom(replace(INFO, updated=None), [])
    assert read(write_atom(INFO, [])).offers == []


def test_utc_is_written_z_and_offsets_are_kept() -> None:
    items = [offer(1, updated=datetime(2026, 5, 1, 12, tzinfo=UTC))]
    items.append(offer(2, updated=datetime(2026, 5, 1, 12, 30, 15, 250000, tzinfo=EET)))
    written = write_atom(INFO, items)
    assert b"<updated>2026-05-01T12:00:00Z</updated>" in written
    assert b"<updated>2026-05-01T12:30:15.250000+02:00</updated>" in written


@pytest.mark.parametrize("write", WRITERS)
def test_a_naive_datetime_is_refused(write: Writer) -> None:
    with pytest.raises(FeedValueError, match=r"offers\[0\]\.valid_through: naive"):
        write(INFO, [offer(valid_through=datetime(2027, 1, 1))])


@pytest.mark.parametrize("write", WRITERS)
def test_xml_illegal_characters_are_stripped(write: Writer) -> None:
    item = offer(title="Spawanie\x00 i\x0b cięcie\ufffe", summary="a\tb\nc\x1f")
    (read_back,) = read(write(INFO, [item])).offers
    assert read_back.title == "Spawanie i cięcie"
    assert read_back.summary == "a\tb\nc"
    assert clean_text("  \x01  ") is None


@pytest.mark.parametrize("write", WRITERS)
def test_dicts_are_accepted_like_dataclasses(write: Writer) -> None:
    as_dict = {"id": INFO.id + "-3", "title": "Gięcie", "link": INFO.link + "3"}
    as_dict |= {"kind": "technology-offer", "language": "pl"}
    as_dict |= {"updated": "2026-11-25T09:50:00+01:00", "location": Location("PL")}
    as_dict |= {"valid_through": datetime(2027, 1, 1, tzinfo=UTC)}
    as_dict |= {"organisation": {"name": "Gięciarnia", "capabilities": ["CNC"]}}
    as_dict |= {"categories": ["blacha", {"term": "25.50", "scheme": SCHEME_NACE}]}
    info = {"title": "Klaster", "link": INFO.link, "id": INFO.id}
    info |= {"updated": "2026-11-25T09:50:00+01:00"}
    (read_back,) = read(write(info, [as_dict])).offers
    assert read_back.kind is OfferKind.TECHNOLOGY_OFFER
    assert read_back.organisation == Organisation("Gięciarnia", capabilities=("CNC",))
    assert read_back.categories == (Category("blacha"), Category("25.50", SCHEME_NACE))
    assert read_back.updated == datetime(2026, 11, 25, 8, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "job"}, r"offers\[0\]\.kind: unknown kind 'job'"),
        ({"titel": "x"}, r"offers\[0\]: unknown key 'titel'"),
        ({"updated": "25.11.2026"}, r"offers\[0\]\.updated: bad date"),
        ({"organisation": {"country": "PL"}}, r"organisation without a name"),
    ],
)
def test_bad_dict_values_are_refused_with_their_key(
    changes: dict[str, Any], message: str
) -> None:
    as_dict = {"id": "tag:x.example,2026:1", "title": "T", "link": "https://x.example/"}
    with pytest.raises(FeedValueError, match=message):
        write_json_feed(INFO, [as_dict | changes])


@pytest.mark.parametrize("write", WRITERS)
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"link": "/oferty/1"}, r"offers\[0\]\.link: '/oferty/1' is not an absolute"),
        ({"language": "polski!"}, r"offers\[0\]\.language"),
        ({"alternates": {"lt": "lt/1"}}, r"offers\[0\]\.alternates\['lt'\]"),
        (
            {"organisation": Organisation("Firma", country="pl")},
            r"<eco:organisation><eco:country>|organisation\.country: bad country",
        ),
        ({"location": Location(lat=91.0)}, r"bad coordinate '?91.0"),
        (
            {"published": datetime(2027, 1, 1, tzinfo=UTC)},
            r"valid-through is before published",
        ),
    ],
)
def test_values_the_validator_calls_errors_are_refused(
    write: Writer, changes: dict[str, Any], message: str
) -> None:
    item = offer(valid_through=datetime(2026, 12, 31, tzinfo=UTC))
    with pytest.raises(FeedValueError, match=message):
        write(INFO, [replace(item, **changes)])


@pytest.mark.parametrize("write", WRITERS)
def test_duplicate_ids_and_listed_tombstones_are_refused(write: Writer) -> None:
    with pytest.raises(FeedValueError, match="duplicate id"):
        write(INFO, [offer(1), offer(1, title="again")])
    gone = [Deleted(offer(1).id, datetime(2026, 1, 1, tzinfo=UTC))]
    with pytest.raises(FeedValueError, match="both listed and withdrawn"):
        write(INFO, [offer(1)], gone)


def test_atom_refuses_an_id_that_is_not_an_iri() -> None:
    with pytest.raises(FeedValueError, match=r"offers\[0\]\.id: '17' is not an IRI"):
        write_atom(INFO, [offer(id="17")])
    assert read(write_json_feed(INFO, [offer(id="17")])).offers[0].id == "17"


# --- property: read(write(x)) == x for any offer the profile allows ---

_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=24
).filter(lambda s: s == s.strip())
_slug = st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True)
_url = _slug.map(lambda s: f"https://member.example.lt/{s}")
_zones = st.sampled_from([UTC, CET, EET, timezone(timedelta(hours=-3, minutes=-30))])
_when = st.datetimes(datetime(1990, 1, 1), datetime(2099, 1, 1), timezones=_zones)
_langs = ["pl", "lt", "en", "ru", "pl-PL"]
_schemes = [SCHEME_NACE, SCHEME_ESCO_OCCUPATION, "https://member.example.lt/t"]
_countries = st.sampled_from(["PL", "LT", "LV", "DE", "UA"])
_ids = st.dictionaries(st.sampled_from(["vat", "krs", "jar", "nip"]), _text)
_caps = st.lists(_text, max_size=3).map(tuple)
_org = st.builds(Organisation, _text, _countries | st.none(), _text | st.none())
_org = _org | st.builds(Organisation, _text, _countries, _text, _url, _ids, _caps)
_floats = st.floats(-90, 90) | st.none()
_location = st.builds(Location, _countries, _text | st.none(), _text | st.none())
_location = _location | st.builds(Location, _countries, lat=_floats, lon=_floats)
_category = st.builds(Category, _text, st.sampled_from(_schemes) | st.none())
_category = _category | st.builds(Category, _text, label=_text)
_contact = st.builds(Contact, _text, st.just("a@b.example") | st.none(), _text)


@st.composite
def _offer(draw: st.DrawFn, n: int) -> Offer:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(strategy | st.none())

    language, published = draw(st.sampled_from(_langs)), maybe(_when)
    valid = maybe(st.integers(0, 10_000).map(timedelta))
    others = st.sampled_from([lang for lang in _langs if lang != language])
    return Offer(
        id=f"tag:member.example.lt,2026:{n}-{draw(_slug)}",
        title=draw(_text),
        link=draw(_url),
        kind=maybe(st.sampled_from(OfferKind)),
        language=language,
        summary=maybe(_text),
        content_html=maybe(_text),
        published=published,
        updated=draw(_when),
        valid_through=published + valid if published and valid is not None else None,
        organisation=maybe(_org),
        location=maybe(_location),
        categories=tuple(draw(st.lists(_category, max_size=3))),
        contact=maybe(_contact),
        group=maybe(_text),
        alternates=draw(st.dictionaries(others, _url, max_size=2)),
    )


@st.composite
def _feed(draw: st.DrawFn) -> tuple[FeedInfo, list[Offer], list[Deleted]]:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(strategy | st.none())

    complete = draw(st.booleans())
    info = FeedInfo(
        title=draw(_text),
        link=draw(_url),
        id=f"tag:member.example.lt,2026:{draw(_slug)}",
        language=maybe(st.sampled_from(_langs)),
        complete=complete,
        next_url=maybe(_url),
        self_url=maybe(_url),
        prev_archive_url=maybe(_url),
        archive=draw(st.booleans()) and not complete,
        subtitle=maybe(_text),
        author=draw(_text),
        updated=draw(_when),
    )
    offers = [draw(_offer(n)) for n in range(draw(st.integers(0, 4)))]
    gone = "tag:member.example.lt,2026:gone-"
    deleted = [
        Deleted(f"{gone}{n}", draw(_when)) for n in range(draw(st.integers(0, 2)))
    ]
    return info, offers, deleted


@pytest.mark.parametrize("write", WRITERS)
@settings(max_examples=60, deadline=None, database=None)
@given(feed=_feed())
def test_read_gives_back_what_was_written(
    write: Writer, feed: tuple[FeedInfo, list[Offer], list[Deleted]]
) -> None:
    info, offers, deleted = feed
    parsed = read(write(info, offers, deleted))
    assert (parsed.info, parsed.offers, parsed.deleted) == (info, offers, deleted)
    assert [p for p in parsed.problems if p.severity == "error"] == []
