"""Profile documents read entry by entry (feeds.reader.stream): each offer handed
over as it is read, the feed's own elements wherever they stand, what was handed
over taken back when the document turns out broken."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import run_capped

from connectors.base import ParseError
from connectors.base import RawItem
from connectors.base import Source
from connectors.profile import stream_profile
from feeds.profile import FeedReadError
from feeds.profile import Offer
from feeds.reader import read
from feeds.reader import stream

ECO = "https://e-cooperation.eu/ns/offer/1.0"


def entry(n: int) -> str:
    return (
        f"<entry><id>tag:m.example,2026:o-{n}</id><title>Spawanie {n}</title>"
        f'<link rel="alternate" type="text/html" href="https://m.example/o/{n}"/>'
        "<updated>2026-11-20T08:00:00Z</updated>"
        "<eco:kind>business-offer</eco:kind></entry>"
    )


def atom(*parts: str, doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{doctype}'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:eco="{ECO}" '
        'xmlns:at="http://purl.org/atompub/tombstones/1.0" xml:lang="pl">'
        "<id>tag:m.example,2026:f</id><title>M</title>"
        "<updated>2026-11-20T08:00:00Z</updated>" + "".join(parts) + "</feed>"
    ).encode()


class Taken:
    """What ``stream`` handed over, and when it took it back."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def take(self, offer: Offer | RawItem) -> None:
        self.log.append(offer.id if isinstance(offer, Offer) else str(offer.guid))

    def retract(self) -> None:
        self.log.append("retract")


def test_offers_are_handed_over_as_read_and_a_broken_end_raises_after_them() -> None:
    document = atom(entry(1), entry(2), entry(3))[:-40]  # cut off in the last entry
    taken = Taken()
    with pytest.raises(FeedReadError, match="not well-formed"):
        stream(document, taken.take, taken.retract)
    assert taken.log == ["tag:m.example,2026:o-1", "tag:m.example,2026:o-2"]


def test_the_connector_takes_back_what_it_handed_over_from_a_broken_document() -> None:
    taken = Taken()
    source = Source("c/s", "c", "rss", "http://m.example/feed", timedelta(hours=1))
    with pytest.raises(ParseError) as caught:
        stream_profile(source, atom(entry(1), entry(2), entry(3))[:-40], taken)
    assert caught.value.error_class == "parse"
    assert taken.log == [
        "tag:m.example,2026:o-1",
        "tag:m.example,2026:o-2",
        "retract",
    ]


def test_feed_elements_after_the_entries_count_as_if_they_came_first() -> None:
    document = atom(
        entry(1),
        entry(2),
        '<link rel="next" href="https://m.example/feed?page=2"/>',
        '<at:deleted-entry ref="tag:m.example,2026:o-0" when="2026-11-19T08:00:00Z"/>',
        "<eco:complete>true</eco:complete>",
    )
    taken = Taken()
    parsed = stream(document, taken.take, taken.retract)
    whole = read(document)
    assert taken.log == [offer.id for offer in whole.offers]
    assert len(whole.offers) == 2 and parsed.offers == []
    for feed in (parsed, whole):
        assert feed.info.next_url == "https://m.example/feed?page=2"
        assert feed.info.complete and feed.completeness_declared
        assert [d.ref for d in feed.deleted] == ["tag:m.example,2026:o-0"]
        assert feed.extension
    assert parsed.problems == whole.problems


def rss(language: str, *, before: bool, items: int = 2) -> bytes:
    """RSS with its ``<language>`` before or after ``items`` items of ~1 kB."""
    body = "Dailidė, baldžius. " * 50
    listed = "".join(
        f"<item><guid>tag:m.example,2026:o-{n}</guid><title>Dailidė {n}</title>"
        f"<link>https://m.example/o/{n}</link><description>{body}</description>"
        "<eco:kind>job-offer</eco:kind></item>"
        for n in range(items)
    )
    lang = f"<language>{language}</language>"
    return (
        f'<rss version="2.0" xmlns:eco="{ECO}"><channel><title>M</title>'
        f"<link>https://m.example/</link>{lang if before else ''}{listed}"
        f"{'' if before else lang}</channel></rss>"
    ).encode()


@pytest.mark.parametrize("before", [True, False])
def test_an_rss_channel_language_reaches_its_items_wherever_it_stands(
    before: bool,
) -> None:
    """Items fall back to the channel's language; one given after 500 kB of items
    is not known to the first reading, which is taken back and read again."""
    offers: list[Offer] = []
    retracts: list[None] = []

    def retract() -> None:
        offers.clear()
        retracts.append(None)

    stream(rss("lt", before=before, items=500), offers.append, retract)
    assert len(retracts) == (0 if before else 1)
    assert len(offers) == 500
    assert {o.language for o in offers} == {"lt"}
    assert [o.language for o in read(rss("lt", before=before)).offers] == ["lt"] * 2


def test_entities_declared_past_the_first_64_kb_are_refused_before_any_offer() -> None:
    padding = "<!-- " + "x" * 70_000 + " -->"
    doctype = f'<!DOCTYPE feed [{padding}<!ENTITY boom "b">]>'
    taken = Taken()
    with pytest.raises(FeedReadError, match="DOCTYPE declares entities"):
        stream(atom(entry(1), doctype=doctype), taken.take, taken.retract)
    assert taken.log == []


def test_read_and_stream_give_the_same_offers_of_a_json_feed() -> None:
    when = datetime(2026, 11, 20, 8, tzinfo=UTC).isoformat()
    document = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "M", '
        '"language": "pl", "items": ['
        + ", ".join(
            f'{{"id": "o-{n}", "url": "https://m.example/o/{n}", "title": "T{n}", '
            f'"content_text": "x", "date_published": "{when}", '
            '"_ecoop": {"kind": "event"}}'
            for n in (1, 2, 3)
        )
        + "]}"
    ).encode()
    offers: list[Offer] = []
    stream(document, offers.append, offers.clear)
    assert offers == read(document).offers
    assert [o.language for o in offers] == ["pl"] * 3


def test_the_xml_parser_out_of_memory_is_a_memory_error_not_a_broken_document(
    tmp_path: Path,
) -> None:
    """Under a parsing process's cap (RLIMIT_AS), libxml2 failing to grow a 9 MB
    text node said "not well-formed XML: unknown error"; the hub then blamed the
    member's XML. A MemoryError is what connectors.bounded reports as too large."""
    printed = run_capped(
        """
        from feeds.reader import stream
        document = (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>t</title>'
            b"<updated>2026-11-20T08:00:00Z</updated><entry><id>tag:a,2026:1</id>"
            b"<title>T</title><content>" + b"x" * 9_000_000 + b"</content></entry>"
            b"</feed>"
        )
        attempt(stream, document, lambda offer: None, lambda: None)
        """,
        tmp_path,
    )
    assert printed == "MemoryError: the XML parser ran out of memory"


def json_feed(*, bom: bool = False) -> bytes:
    """Items first, the feed's language after them; a place with coordinates, an
    item without content."""
    items = [
        {
            "id": f"o-{n}",
            "url": f"https://m.example/o/{n}",
            "title": f"Gięcie {n}",
            "content_text": "Obróbka",
            "_ecoop": {
                "kind": "business-offer",
                "location": {"country": "PL", "town": "Ełk", "lat": 53.8, "lon": 22.4},
            },
        }
        for n in (1, 2)
    ]
    items.append({"id": "o-3", "url": "https://m.example/o/3", "title": "Bez treści"})
    document = {
        "items": items,
        "version": "https://jsonfeed.org/version/1.1",
        "title": "M",
        "language": "pl",
        "_ecoop": {
            "complete": True,
            "deleted": [{"ref": "o-0", "when": "2026-11-20T08:00:00Z"}],
        },
    }
    return (b"\xef\xbb\xbf" if bom else b"") + json.dumps(document).encode()


@pytest.mark.parametrize("bom", [False, True])
def test_a_json_feed_in_a_file_is_read_item_by_item_as_its_bytes_are(
    tmp_path: Path, bom: bool
) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(json_feed(bom=bom))
    offers: list[Offer] = []
    with path.open("rb") as file:
        parsed = stream(file, offers.append, offers.clear)
    whole = read(json_feed(bom=bom))
    assert offers == whole.offers and len(offers) == 3
    assert {o.language for o in offers} == {"pl"}  # the feed's, given after them
    assert offers[0].location is not None and offers[0].location.lat == 53.8
    assert (parsed.info, parsed.deleted, parsed.extension) == (
        whole.info,
        whole.deleted,
        whole.extension,
    )
    assert sorted(p.message for p in parsed.problems) == sorted(
        p.message for p in whole.problems
    )
    assert any(p.message == "no content" for p in parsed.problems)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id"',
            "not valid JSON",
        ),
        (b'[{"id": "o-1"}]', "JSON is not an object but a list"),
    ],
)
def test_a_broken_json_feed_in_a_file_is_refused(
    tmp_path: Path, document: bytes, error: str
) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(document)
    with path.open("rb") as file, pytest.raises(FeedReadError, match=error):
        stream(file, lambda offer: None, lambda: None)
