"""Paged feeds (RFC 5005 §3, JSON Feed ``next_url``): the harvester reads every page,
a complete listing in pages withdraws what left any page, and a page that cannot be
read withdraws nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import LOOPBACK
from helpers import Clock
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from werkzeug import Request
from werkzeug import Response

from connectors.http import make_http
from feeds.profile import FeedInfo
from feeds.profile import Offer as FeedOffer
from feeds.profile import OfferKind
from feeds.writer import write_atom
from feeds.writer import write_json_feed
from hub import index
from hub.harvest import Harvester
from hub.models import HarvestRun
from hub.models import Offer
from hub.registry import load

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
INFO = FeedInfo(
    title="Klaster Obróbki Metali",
    link="https://metalklaster.example.pl/",
    id="tag:metalklaster.example.pl,2026:offers",
    language="pl",
    complete=True,
    updated=T0,
)
Writer = Callable[..., bytes]


def offer(n: int) -> FeedOffer:
    return FeedOffer(
        id=f"tag:metalklaster.example.pl,2026:offer-{n}",
        title=f"Oferta {n}",
        link=f"https://metalklaster.example.pl/oferty/{n}",
        kind=OfferKind.BUSINESS_OFFER,
        language="pl",
        updated=T0,
    )


class PagedSite:
    """A member site serving a feed as pages ``/feed``, ``/feed?page=2`` ...; the
    test rewrites them between harvests (``publish``) or breaks one (``status``)."""

    def __init__(self, server: HTTPServer, write: Writer) -> None:
        self.server, self.write = server, write
        self.pages: dict[str, bytes] = {}
        self.status: dict[str, int] = {}
        self.served: list[str] = []
        server.expect_request("/feed").respond_with_handler(self._serve)

    def url(self, page: int) -> str:
        return self.server.url_for("/feed") + ("" if page == 1 else f"?page={page}")

    def publish(
        self, *pages: list[int], next_of: Callable[[int], str] | None = None
    ) -> None:
        """One document per list of offer numbers, each linking the next."""
        self.pages.clear()
        for i, numbers in enumerate(pages, start=1):
            last = i == len(pages)
            link = None if last else (next_of or self.url)(i + 1)
            info = replace(INFO, next_url=link)
            self.pages[str(i)] = self.write(info, [offer(n) for n in numbers])

    def _serve(self, request: Request) -> Response:
        page = request.args.get("page", "1")
        self.served.append(page)
        if page in self.status:
            return Response("down", status=self.status[page])
        return Response(self.pages[page], content_type="application/xml")


@pytest.fixture(params=[("atom", write_atom), ("jsonfeed", write_json_feed)])
def site(request: pytest.FixtureRequest, httpserver: HTTPServer) -> PagedSite:
    paged = PagedSite(httpserver, request.param[1])
    paged.source_type = request.param[0]  # type: ignore[attr-defined]
    return paged


def harvester_for(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session], options: str = ""
) -> Harvester:
    registry = write_registry(
        tmp_path / "clusters.yaml",
        {"offers": site.url(1)},
        type_=site.source_type,  # type: ignore[attr-defined]
        options=options,
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    return Harvester(sessions, make_http(), clock=Clock(T0), policy=LOOPBACK)


def active(sessions: sessionmaker[Session]) -> set[int]:
    with sessions() as db:
        guids = db.scalars(sa.select(Offer.guid).where(Offer.status == "active"))
        return {int(g.rsplit("-", 1)[1]) for g in guids}


def missing(sessions: sessionmaker[Session]) -> dict[int, int]:
    """Offer number -> the harvests in a row it was absent from."""
    with sessions() as db:
        rows = db.execute(sa.select(Offer.guid, Offer.missing_runs))
        return {int(guid.rsplit("-", 1)[1]): runs for guid, runs in rows if runs}


def last_warning(sessions: sessionmaker[Session]) -> str:
    with sessions() as db:
        run = db.scalars(sa.select(HarvestRun).order_by(HarvestRun.id.desc())).first()
        assert run is not None
        return run.warning or ""


def test_every_page_is_read_and_absence_from_all_of_them_withdraws(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    site.publish([1, 2], [3, 4], [5])
    harvester = harvester_for(site, tmp_path, sessions)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 5)
    assert active(sessions) == {1, 2, 3, 4, 5}

    # Offer 4 leaves page 2; page 1 stays byte for byte the same, and is read again.
    # An offer missing from three harvests over a day is withdrawn (hub.index).
    site.publish([1, 2], [3], [5])
    for _ in range(3):
        harvester.clock.now += timedelta(hours=12)  # type: ignore[attr-defined]
        [run] = harvester.run(due_only=False)
        assert site.served[-3:] == ["1", "2", "3"]
    assert (run.status, run.withdrawn) == ("ok", 1)
    assert active(sessions) == {1, 2, 3, 5}


def test_a_page_that_fails_keeps_what_was_read_and_withdraws_nothing(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    site.publish([1, 2], [3, 4], [5])
    harvester = harvester_for(site, tmp_path, sessions)
    harvester.run(due_only=False)
    site.publish([1, 2, 6], [3, 4], [5])
    site.status["2"] = 503
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 1)
    assert active(sessions) == {1, 2, 3, 4, 5, 6}
    assert missing(sessions) == {}  # absence from an unread page is no absence
    assert "page 2" in last_warning(sessions) and "503" in last_warning(sessions)


def test_the_page_cap_ends_the_walk_without_withdrawing(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    site.publish([1], [2], [3])
    harvester = harvester_for(site, tmp_path, sessions, "        max_pages: 1\n")
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 2)  # the first page and one more
    assert "page cap" in last_warning(sessions)
    assert "3" not in site.served
    site.publish([1], [3])  # 2 left; 3, not read before, is there now
    harvester.run(due_only=False)
    assert missing(sessions) == {2: 1}  # two pages, all of the feed: a real absence


def test_a_next_page_on_another_site_is_not_followed(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    elsewhere = site.url(2).replace("127.0.0.1", "localhost")
    site.publish([1], [2], next_of=lambda _page: elsewhere)
    harvester = harvester_for(site, tmp_path, sessions)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 1)
    assert "another site" in last_warning(sessions)
    assert site.served == ["1"]


def test_pages_that_link_in_a_circle_are_read_once(
    site: PagedSite, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    site.publish([1], [2], [3])
    site.pages["3"] = site.write(replace(INFO, next_url=site.url(2)), [offer(3)])
    harvester = harvester_for(site, tmp_path, sessions)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 3)
    assert site.served == ["1", "2", "3"]


def test_a_plain_rss_feed_with_an_atom_next_link_is_followed(
    httpserver: HTTPServer, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    def page(items: str, next_page: str | None) -> str:
        link = f'<atom:link rel="next" href="{next_page}"/>' if next_page else ""
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            f"<title>Oferty</title><link>https://metal.example/</link>{link}"
            f"{items}</channel></rss>"
        )

    def item(n: int) -> str:
        return (
            f"<item><title>Oferta {n}</title>"
            f"<link>https://metal.example/oferty/{n}</link></item>"
        )

    httpserver.expect_request("/rss").respond_with_data(
        page(item(1) + item(2), "/rss/2"), content_type="application/rss+xml"
    )
    httpserver.expect_request("/rss/2").respond_with_data(
        page(item(3), None), content_type="application/rss+xml"
    )
    registry = write_registry(
        tmp_path / "clusters.yaml", {"news": httpserver.url_for("/rss")}
    )
    with sessions() as db:
        index.sync_registry(db, load(registry), T0)
    harvester = Harvester(sessions, make_http(), clock=lambda: T0, policy=LOOPBACK)
    [run] = harvester.run(due_only=False)
    assert (run.status, run.new) == ("ok", 3)
