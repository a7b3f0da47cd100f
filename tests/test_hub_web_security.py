"""Strict site headers (hub.web.security) on every response, and pages that keep to
the Content-Security-Policy in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Page

from hub.web.security import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).resolve().parent.parent / "hub" / "web" / "templates"
STRICT = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def assert_strict(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in STRICT.items():
        assert headers.get(name) == value, name


def test_the_policy_allows_no_inline_script_and_no_framing() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("url", ["/en/", "/pl/offers/?q=cnc", "/lt/status/"])
def test_pages_carry_strict_headers_and_revalidate(
    client: FlaskClient, url: str
) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert_strict(response)
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("url", ["/en/no-such-page", "/de/", "/en/offers/999999"])
def test_error_pages_carry_strict_headers_and_are_not_stored(
    client: FlaskClient, url: str
) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert_strict(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_crash_still_answers_with_strict_headers(app: Flask) -> None:
    def crash() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/crash", "crash", crash)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/crash")
    assert response.status_code == 500
    assert_strict(response)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/"), ("GET", "/static/site.css"), ("POST", "/en/"), ("GET", "/api/x")],
)
def test_redirects_files_and_api_answers_carry_them_too(
    client: FlaskClient, method: str, url: str
) -> None:
    response = client.open(url, method=method)
    assert_strict(response)
    response.close()  # a file answer holds the file open


def test_a_view_keeps_its_own_cache_control(app: Flask) -> None:
    app.add_url_rule(
        "/cached", "cached", lambda: ("<p>x</p>", {"Cache-Control": "max-age=60"})
    )
    response = app.test_client().get("/cached")
    assert response.headers["Cache-Control"] == "max-age=60"
    assert_strict(response)


@pytest.mark.parametrize(
    "pattern",
    [
        r"<script(?![^>]*\b(?:src=|type=\"application/ld\+json\"))",
        r"\sstyle\s*=",
        r"\son[a-z]+\s*=",
        r"javascript:",
    ],
    ids=["inline script", "style attribute", "event handler", "javascript url"],
)
def test_templates_hold_nothing_the_policy_would_block(pattern: str) -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(pattern, text, re.IGNORECASE), template.name


@pytest.mark.browser
def test_pages_render_without_policy_violations(page: Page, live_server: str) -> None:
    violations: list[str] = []
    page.on("console", lambda m: _record_error(m, violations))
    page.on("pageerror", lambda e: violations.append(str(e)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    for url in ("/en/", "/pl/offers/?q=cnc", "/lt/status/", "/en/no-such-page"):
        response = page.goto(live_server + url)
        assert response is not None
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.goto(live_server + "/en/offers/")
    page.locator("li.offer a.title").first.click()
    page.wait_for_load_state("load")
    assert "/offers/" in page.url
    # the stylesheet applies under the policy
    header = page.locator("header.site")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == (
        "rgb(15, 47, 82)"
    )
    assert violations == []


def _record_error(message: ConsoleMessage, violations: list[str]) -> None:
    # a 404 page logs its own status as an error: not a violation
    if message.type == "error" and "404" not in message.text:
        violations.append(message.text)
