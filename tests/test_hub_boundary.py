"""Text and dates are fixed at the boundary: impossible dates rejected (not rolled
over), absurd field sizes cut to what the index holds, on both databases."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.base import FetchResult
from connectors.base import Source
from connectors.rss import RssConnector
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.normalize import MAX_BODY_CHARS
from hub.normalize import MAX_CATEGORIES
from hub.normalize import MAX_TITLE_CHARS
from hub.registry import load


def _rss(*items: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        "<title>t</title><link>https://m.example/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _item(guid: str, title: str = "Spawanie", **fields: str) -> str:
    extra = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{escape(title)}</title>"
        f"{extra}</item>"
    )


@pytest.mark.parametrize(
    ("tag", "raw"),
    [
        ("pubDate", "2026-02-30T10:00:00Z"),  # feedparser rolls it to 2 March
        ("pubDate", "2026-13-01T00:00:00Z"),  # ... and this to 1 January 2027
        ("pubDate", "Mon, 30 Feb 2026 10:00:00 GMT"),
        ("pubDate", "2026-11-25T25:61:00Z"),
        ("pubDate", "0001-01-01T00:00:00Z"),  # a placeholder, not a date
        ("updated", "1970-01-01T00:00:00Z"),
    ],
)
def test_impossible_dates_are_rejected_not_rolled_over(tag: str, raw: str) -> None:
    source = Source("m/f", "m", "rss", "https://m.example/feed", interval=None)  # type: ignore[arg-type]
    body = _rss(_item("1", **{tag: raw}))
    [item] = RssConnector().parse(source, FetchResult(source.url, 200, {}, body)).items
    assert (item.published, item.updated) == (None, None)


def test_a_possible_date_survives() -> None:
    source = Source("m/f", "m", "rss", "https://m.example/feed", interval=None)  # type: ignore[arg-type]
    body = _rss(_item("1", pubDate="2026-02-28T23:30:00-02:00"))
    [item] = RssConnector().parse(source, FetchResult(source.url, 200, {}, body)).items
    assert item.published is not None
    assert item.published.isoformat() == "2026-03-01T01:30:00+00:00"


def test_absurd_sizes_are_cut_to_what_the_index_holds(
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    harvester: Harvester,
    clock: Clock,
) -> None:
    categories = "".join(f"<category>k{i} {'x' * i}</category>" for i in range(500))
    huge = _item(
        "huge",
        title="Cięcie " * 2000,
        link="https://m.example/" + "a" * 5000,
        description=escape("<p>" + "obróbka " * 200_000 + "</p>"),
    ).replace("</item>", categories + "</item>")
    httpserver.expect_request("/feed").respond_with_data(_rss(huge, _item("ok")))
    registry = write_registry(
        tmp_path / "c.yaml", {"feed": httpserver.url_for("/feed")}
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new, run.failed) == ("ok", 2, 0)
    with sessions() as db:
        offer = db.scalar(sa.select(Offer).where(Offer.guid == "huge"))
    assert offer is not None
    assert len(offer.title) <= MAX_TITLE_CHARS and offer.title.startswith("Cięcie")
    assert offer.title.endswith("…")
    assert len(offer.body_html) <= MAX_BODY_CHARS + 100
    assert offer.body_html.startswith("<p>obróbka") and offer.body_html.endswith("</p>")
    assert len(offer.categories) == MAX_CATEGORIES
    assert all(len(c) <= 100 for c in offer.categories)
    assert offer.url is None  # a 5 000-character link is not a link
