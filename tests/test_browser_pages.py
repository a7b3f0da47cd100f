"""The job exchange, the companies, the clusters and the operator's "harvest now" in
headless Chromium (Debian's), driven by Playwright; screenshots of each new page in
PL and LT go to Playwright's output directory (test-results/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page
from playwright.sync_api import expect
from web_seed import esco
from web_seed import item
from web_seed import seed
from web_seed import sync

pytestmark = pytest.mark.browser

TOKEN = "browser-operator-token"
# two occupations of the hub's label file (any two: the tests read their labels)
OCC_A, OCC_B = sorted(esco())[:2]
COMPANY = "Łódź Precision Sp. z o.o."


@pytest.fixture
def site(harvested_app: Flask, live_server: str) -> str:
    """The harvested demo plus job ads with occupations, an operator token."""
    harvested_app.config["ECOOP_OPERATOR_TOKEN"] = TOKEN
    first, second = sync(harvested_app)[:2]
    seed(
        harvested_app,
        first,
        [
            item("bw1", "Spawacz TIG – Łódź Precision", kind="job-offer", days_ago=0.5,
                 town="Ełk", country="PL", occupations=(OCC_A,), org=COMPANY),
            item("bw2", "Operator CNC – Łódź Precision", kind="job-offer", days_ago=4,
                 town="Suwałki", country="PL", occupations=(OCC_B,), org=COMPANY),
        ],
    )  # fmt: skip
    seed(
        harvested_app,
        second,
        [
            item("bw3", "Suvirintojas ieško darbo", kind="job-seeking", days_ago=2,
                 language="lt", town="Alytus", country="LT", occupations=(OCC_A,)),
        ],
    )  # fmt: skip
    return live_server


def shot(page: Page, output_path: Path, name: str) -> None:
    page.screenshot(path=str(Path(output_path) / f"{name}.png"), full_page=True)


def test_visitor_applies_and_removes_an_occupation_facet(
    page: Page, site: str, output_path: Path
) -> None:
    page.goto(site + "/pl/")
    # by address: the lead translates the new navigation labels
    page.locator("header.site nav a[href='/pl/jobs/']").click()
    status = page.get_by_role("status")
    everything = status.inner_text()
    wanted = esco()[OCC_B]["pl"]
    more = page.locator("section.facet-occupation summary")
    if more.count():  # a long facet folds its rarer values
        more.click()
    facet = page.locator("section.facet-occupation li").filter(has_text=wanted)
    count = int(facet.locator(".count").inner_text().replace("\xa0", ""))
    facet.get_by_role("link", name=wanted).click()
    expect(status).not_to_have_text(everything)
    titles = page.locator("li.offer a.title")
    expect(titles).to_have_count(min(count, 20))
    expect(titles.filter(has_text="Operator CNC – Łódź Precision")).to_have_count(1)
    shot(page, output_path, "jobs-pl")
    page.get_by_role("link", name="LT", exact=True).click()
    expect(page.locator("ul.active-filters")).to_contain_text(esco()[OCC_B]["lt"])
    shot(page, output_path, "jobs-lt")
    page.get_by_role("link", name="Pašalinti šį filtrą").click()
    expect(page.locator("ul.active-filters")).to_have_count(0)
    expect(titles).not_to_have_count(1)


def test_visitor_finds_a_company_without_diacritics_and_opens_it(
    page: Page, site: str, output_path: Path
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(site + "/lt/companies/")
    shot(page, output_path, "companies-lt")
    page.get_by_role("searchbox").fill("lodz precision")
    page.get_by_role("button", name="Ieškoti").click()
    page.get_by_role("link", name=COMPANY).click()
    expect(page.locator("h1")).to_have_text(COMPANY)
    expect(page.locator("li.offer a.title")).to_have_count(2)
    shot(page, output_path, "company-lt")
    page.get_by_role("link", name="PL", exact=True).click()
    expect(page.locator("h1")).to_have_text(COMPANY)
    shot(page, output_path, "company-pl")
    page.goto(site + "/pl/companies/")
    shot(page, output_path, "companies-pl")


def test_visitor_opens_a_cluster_page(page: Page, site: str, output_path: Path) -> None:
    page.goto(site + "/pl/")
    page.locator("header.site nav a[href='/pl/clusters/']").click()
    shot(page, output_path, "clusters-pl")
    page.locator("li.cluster h3 a").first.click()
    expect(page.locator("ul.sources li")).not_to_have_count(0)
    shot(page, output_path, "cluster-pl")
    page.get_by_role("link", name="LT", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "lt")
    shot(page, output_path, "cluster-lt")


def test_operator_signs_in_and_presses_harvest_now(
    page: Page, site: str, output_path: Path
) -> None:
    page.goto(site + "/en/status/")
    page.get_by_label("Operator token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    key = page.locator("table.status tbody tr .key").first.inner_text()
    # each button is named for its source
    page.get_by_role("button", name=f"Harvest {key} now").click()
    expect(page.locator("p.notice")).to_contain_text(key)
    page.get_by_role("link", name="PL", exact=True).click()
    shot(page, output_path, "status-operator-pl")
    page.get_by_role("link", name="LT", exact=True).click()
    shot(page, output_path, "status-operator-lt")
    page.locator(".operator button").click()  # sign out
    expect(page.locator("table.status button")).to_have_count(0)
