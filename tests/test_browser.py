"""The site in headless Chromium (Debian's), driven by Playwright.

What a visitor does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page
from playwright.sync_api import expect

from feeds.samples import SampleSites
from feeds.samples import sample_offers
from hub.models import Cluster
from hub.models import Offer
from hub.registry import load
from hub.versions import one_per_offer

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent


def test_visitor_searches_without_diacritics_and_opens_the_offer(
    page: Page, live_server: str, sample_sites: SampleSites, tmp_path: Path
) -> None:
    page.goto(live_server + "/pl/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Oferty klastrów biznesowych ponad granicami"
    )
    versions = {
        o.language: o
        for o in sample_offers(sample_sites.clock(), sample_sites.base_url)[
            "metalklaster"
        ]
        if "/obrobka-cnc-toczenie-frezowanie/" in o.id
    }
    cnc = versions["pl"]  # "Usługi obróbki CNC – toczenie i frezowanie"
    page.get_by_role("searchbox").fill("uslugi obrobki cnc")
    page.get_by_role("button", name="Szukaj").click()
    expect(page.get_by_role("status")).to_contain_text("Znaleziono")
    page.get_by_role("link", name=cnc.title, exact=True).click()
    expect(page.locator("h1")).to_have_text(cnc.title)
    # its Lithuanian version is offered on the page
    expect(page.locator('dl a[hreflang="lt"]')).to_contain_text(versions["lt"].title)
    page.screenshot(path=str(tmp_path / "offer.png"))
    page.get_by_role("link", name="Zobacz ofertę na stronie członka").click()
    # the member site's own page of the same offer
    assert page.url == cnc.link
    expect(page.locator("h1")).to_have_text(cnc.title)


def test_visitor_filters_by_cluster_and_switches_language(
    page: Page, live_server: str, harvested_app: Flask
) -> None:
    with harvested_app.extensions["ecoop.sessions"]() as db:
        live = dict(
            db.execute(
                sa.select(Cluster.slug, sa.func.count())
                .join(Offer, Offer.cluster_id == Cluster.id)
                .where(Offer.status == "active", one_per_offer())
                .group_by(Cluster.slug)
            ).all()
        )
    total, wood = sum(live.values()), live["medienospartneriai"]  # real offers
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(live_server + "/en/offers/")
    expect(page.get_by_role("status")).to_have_text(f"{total} offers found")
    page.get_by_role("link", name="Wood Partners Cluster").click()
    expect(page.get_by_role("status")).to_have_text(f"{wood} offers found")
    page.get_by_role("link", name="LT", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f" {wood} pasiūlym")
    assert page.url.endswith("/lt/offers/?cluster=medienospartneriai")
    # the interface is Lithuanian; each offer keeps the language it was written in
    languages = page.locator("li.offer a.title").evaluate_all(
        "els => els.map(e => e.lang)"
    )
    assert {"lt", "en", "pl"} >= set(languages) >= {"lt"}
    page.get_by_role("link", name="Pašalinti šį filtrą").click()  # the filter chip
    expect(page.get_by_role("status")).to_contain_text(f" {total} pasiūlym")


def test_operator_reads_the_harvest_status(page: Page, live_server: str) -> None:
    page.set_viewport_size({"width": 1200, "height": 800})  # a laptop
    for language in ("pl", "lt", "en"):  # every column in view, none scrolled to
        page.goto(f"{live_server}/{language}/status/")
        wrap = page.locator(".table-wrap")
        assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), language
    page.goto(live_server + "/en/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Status"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harvest status")
    rows = page.locator("table.status tbody tr")
    expect(rows).to_have_count(len(load(ROOT / "config" / "demo.yaml").sources))
    expect(rows.first).to_contain_text("Healthy")
    page.get_by_role("link", name="PL", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stan pobierania")
    expect(page.locator("table.status tbody tr").first).to_contain_text("Sprawne")


def test_webmaster_checks_a_feed(page: Page, live_server: str) -> None:
    example = Path(__file__).resolve().parent / "data" / "profile" / "example.atom"
    page.goto(live_server + "/lt/")
    page.get_by_role("link", name="Patikrinkite savo kanalą").click()
    page.get_by_label("arba failas").set_input_files(str(example))
    page.get_by_role("button", name="Tikrinti").click()
    expect(page.locator("#report-title")).to_have_text("Kanalas tinkamas")
    expect(page.locator("li.offer .title").first).to_have_text(
        "Spawanie i cięcie laserowe – wolne moce przerobowe"
    )


@pytest.mark.parametrize("language", ["pl", "lt"])
def test_screenshots_of_home_search_and_offer(
    page: Page, live_server: str, output_path: str, language: str
) -> None:
    """Test artefacts: what a visitor sees, in test-results/ (kept by CI)."""
    out = Path(output_path)
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1200, "height": 900})
    shots = {}
    page.goto(f"{live_server}/{language}/")
    shots["home"] = page.screenshot(
        path=str(out / f"home-{language}.png"), full_page=True
    )
    page.goto(f"{live_server}/{language}/offers/?q=cnc")
    expect(page.locator("li.offer").first).to_be_visible()
    shots["search"] = page.screenshot(
        path=str(out / f"search-{language}.png"), full_page=True
    )
    page.locator("li.offer a.title").first.click()
    expect(page.locator("h1")).to_be_visible()
    shots["offer"] = page.screenshot(
        path=str(out / f"offer-{language}.png"), full_page=True
    )
    assert all(len(png) > 10_000 for png in shots.values())
