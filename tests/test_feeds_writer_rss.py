"""feeds.writer.write_rss: RSS 2.0 with the eco extension in its items, read back by
feeds.reader and feedparser, checked by feeds.validator; the same escaping, character
and refusal rules as the Atom and JSON Feed writers."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from email.utils import parsedate_to_datetime

import feedparser
import pytest
from lxml import etree

from feeds.__main__ import example_feed
from feeds.profile import FeedValueError
from feeds.profile import Offer
from feeds.reader import read
from feeds.validator import validate
from feeds.writer import write_rss

CET = timezone(timedelta(hours=1))


def lossy(offer: Offer, language: str | None) -> Offer:
    """What RSS 2.0 keeps of an offer (see write_rss): no updated, alternates,
    category labels or own language; a lone summary comes back as the body."""
    body, summary = offer.content_html, offer.summary
    if body is None:
        body, summary = summary, None
    return replace(
        offer,
        published=offer.published or offer.updated,
        updated=None,
        alternates={},
        categories=tuple(replace(c, label=None) for c in offer.categories),
        language=language,
        content_html=body,
        summary=summary,
    )


def test_the_example_feed_reads_back_with_what_rss_can_carry() -> None:
    info, offers, deleted = example_feed()
    data = write_rss(info, offers, deleted)
    parsed = read(data)
    assert parsed.format == "rss" and parsed.problems == []
    assert parsed.offers == [lossy(o, info.language) for o in offers]
    assert parsed.deleted == deleted
    assert (parsed.info.title, parsed.info.link) == (info.title, info.link)
    assert parsed.info.complete is True and parsed.info.id == info.self_url
    assert validate(data).ok


def test_feedparser_reads_titles_links_dates_and_bodies() -> None:
    info, offers, _ = example_feed()
    parsed = feedparser.parse(write_rss(info, offers))
    assert not parsed.bozo and parsed.version == "rss20"
    assert parsed.feed.title == info.title and parsed.feed.link == info.link
    assert [e.title for e in parsed.entries] == [o.title for o in offers]
    assert [e.link for e in parsed.entries] == [o.link for o in offers]
    assert [e.id for e in parsed.entries] == [o.id for o in offers]
    first = parsed.entries[0]
    assert "<strong>spawanie</strong>" in first.content[0].value
    assert first.summary == offers[0].summary


def test_dates_are_rfc_822_in_their_own_offset() -> None:
    info, offers, _ = example_feed()
    when = datetime(2026, 11, 25, 9, 50, tzinfo=CET)
    data = write_rss(info, [replace(offers[0], published=when)])
    root = etree.fromstring(data)
    text = root.findtext("channel/item/pubDate")
    assert text == "Wed, 25 Nov 2026 09:50:00 +0100"
    assert parsedate_to_datetime(text) == when


def test_html_is_escaped_as_given_and_illegal_characters_are_dropped() -> None:
    info, offers, _ = example_feed()
    body = '<p>Oferta</p><script>alert("x")</script>'
    item = replace(offers[0], title="Zażółć\x00 gęślą\x1f jaźń", content_html=body)
    data = write_rss(info, [item])
    assert (
        b"&lt;script&gt;alert(" in data
    )  # text, never markup (sanitising is the hub's)
    assert "Zażółć gęślą jaźń".encode() in data  # letters as themselves, controls gone
    assert read(data).offers[0].content_html == body


def test_a_guid_that_is_not_the_link_is_no_permalink() -> None:
    info, offers, _ = example_feed()
    root = etree.fromstring(write_rss(info, offers[:1]))
    assert root.find("channel/item/guid").get("isPermaLink") == "false"
    same = replace(offers[0], id=offers[0].link)
    root = etree.fromstring(write_rss(info, [same]))
    assert root.find("channel/item/guid").get("isPermaLink") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"published": datetime(2026, 11, 25, 9, 50)}, "offers[0].published"),
        ({"link": "javascript:alert(1)"}, "offers[0].link"),
        ({"kind": "job"}, "unknown kind"),
    ],
)
def test_what_the_profile_forbids_is_refused(
    change: dict[str, object], message: str
) -> None:
    info, offers, _ = example_feed()
    with pytest.raises(FeedValueError, match=re.escape(message)):
        write_rss(info, [{**offer_mapping(offers[0]), **change}])


def offer_mapping(offer: Offer) -> dict[str, object]:
    return {"id": offer.id, "title": offer.title, "link": offer.link, "kind": "event"}


def test_an_empty_feed_is_valid_rss() -> None:
    info, _, _ = example_feed()
    data = write_rss(replace(info, updated=None), [])
    report = validate(data)
    assert report.ok and report.format == "rss" and report.offers == 0
    assert etree.fromstring(data).find("channel/lastBuildDate") is None
