"""Nothing a member site sends executes in a visitor's browser.

A hostile member site on loopback publishes script-laden offers in every feed format
the hub reads (RSS, profile Atom, profile JSON Feed); the hub harvests them; headless
Chromium then walks every page of the site that shows harvested content (following
the site's own links) and fails on any dialog, script error, inline event handler,
inline script, or link / source / form target whose scheme is not http(s) (mailto:
and tel: are allowed for contacts).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from helpers import LOOPBACK
from helpers import Clock
from playwright.sync_api import Dialog
from playwright.sync_api import Page
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from connectors.http import make_http
from hub import create_app
from hub import index
from hub.harvest import Harvester
from hub.models import Offer
from hub.registry import load

pytestmark = pytest.mark.browser

MAX_PAGES = 80

# Markup that runs script if any of it survives into a page (each calls alert() or
# sets window.__pwned).
HOSTILE_HTML = [
    "<script>alert('script')</script>",
    "<img src=x onerror=\"alert('img')\">",
    "<svg onload=\"alert('svg')\"></svg>",
    "<a href=\"javascript:alert('js-link')\">js link</a>",
    "<a href=\"jav&#x09;ascript:alert('tab')\">tab link</a>",
    '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<form action=\"javascript:alert('form')\"><button>go</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>"
    "</style></mglyph></table></mtext></math>",
    '<object data="javascript:alert(1)"></object>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<details open ontoggle="window.__pwned=1">toggle</details>',
]
BODY = "<p>Spawanie MIG/MAG, cięcie laserem.</p>" + "".join(HOSTILE_HTML)
TITLE = "Spawanie \"><script>alert('title')</script> <img src=x onerror=alert(1)>"
JS_URL = "javascript:alert('link')"

RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><guid isPermaLink="false">rss-1</guid><title>{escape(TITLE)}</title>
<link>{JS_URL}</link><description>{escape(BODY)}</description>
<category>{escape("<img src=x onerror=alert('cat')>")}</category>
<author>{escape("<svg onload=alert('author')>")}</author></item>
<item><guid isPermaLink="false">rss-2</guid><title>Gięcie blach</title>
<link>https://hostile.example/oferty/2</link>
<description>{escape(BODY)}</description></item>
</channel></rss>"""

ATOM = f"""<?xml version='1.0' encoding='utf-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:eco="https://e-cooperation.eu/ns/offer/1.0"
 xml:lang="pl"><id>tag:hostile.example,2026:atom</id><title>Hostile</title>
<updated>2026-11-25T09:50:00+01:00</updated><author><name>H</name></author>
<entry><id>tag:hostile.example,2026:atom-1</id>
<title type="html">{escape(TITLE)}</title>
<link rel="alternate" href="{JS_URL}"/>
<link rel="alternate" hreflang="lt"
 href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"/>
<updated>2026-11-25T09:50:00+01:00</updated>
<content type="html">{escape(BODY)}</content>
<eco:kind>job-offer</eco:kind>
<eco:organisation>
<eco:name>{escape("<img src=x onerror=alert('org')>Stal-Łoś")}</eco:name>
<eco:country>PL</eco:country>
<eco:town>{escape("<b onmouseover=alert(1)>Ełk</b>")}</eco:town>
<eco:website>https://stal-los.example.pl/</eco:website></eco:organisation>
<eco:contact><eco:name>{escape("<script>alert('contact')</script>")}</eco:name>
<eco:email>oferty@stal-los.example.pl</eco:email></eco:contact>
</entry></feed>"""

JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Hostile",
        "home_page_url": "https://hostile.example/",
        "items": [
            {
                "id": "json-1",
                "url": JS_URL,
                "external_url": "data:text/html,<script>alert(1)</script>",
                "title": TITLE,
                "content_html": BODY,
                "image": "javascript:alert('image')",
                "tags": ["<img src=x onerror=alert('tag')>"],
                "date_published": "2026-11-20T09:00:00+01:00",
                "_ecoop": {
                    "kind": "business-request",
                    "organisation": {
                        "name": "<svg onload=alert('json-org')>Drewno",
                        "country": "LT",
                        "town": "Alytus",
                        "website": "javascript:alert('website')",
                    },
                },
            }
        ],
    }
)

REGISTRY = """\
clusters:
  - slug: hostile
    name: {{pl: "<script>alert('c')</script>Wrogi", lt: Priešas, en: Hostile}}
    description: {{en: "<img src=x onerror=alert('desc')>"}}
    country: PL
    sector: metalworking
    homepage: https://hostile.example/
    languages: [pl]
    sources:
      - {{id: rss, type: rss, url: "{base}/feed.rss"}}
      - {{id: atom, type: atom, url: "{base}/feed.atom"}}
      - {{id: json, type: jsonfeed, url: "{base}/feed.json"}}
"""

CHECK_PAGE = """() => {
  const bad = [];
  const allowed = ['http:', 'https:', 'mailto:', 'tel:'];
  const urlAttributes = ['href', 'src', 'action', 'formaction', 'data', 'poster',
                         'srcset', 'xlink:href', 'background', 'cite'];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) bad.push(`${el.tagName} ${attr.name}`);
      if (urlAttributes.includes(attr.name) && attr.value.trim()) {
        let url;
        try { url = new URL(attr.value, document.baseURI); }
        catch (e) { bad.push(`${el.tagName} ${attr.name}=${attr.value}`); continue; }
        if (!allowed.includes(url.protocol)) {
          bad.push(`${el.tagName} ${attr.name}=${attr.value}`);
        }
      }
    }
    if (['IFRAME', 'OBJECT', 'EMBED', 'BASE'].includes(el.tagName)) {
      bad.push(el.tagName);
    }
    if (el.tagName === 'META' && /refresh/i.test(el.httpEquiv || '')) {
      bad.push('META refresh');
    }
  }
  for (const s of document.scripts) {
    if (s.type === 'application/ld+json') {
      try { JSON.parse(s.textContent); } catch (e) { bad.push('broken JSON-LD'); }
    } else if (!s.src) {
      bad.push('inline script');
    }
  }
  if (window.__pwned) bad.push('window.__pwned set');
  return bad;
}"""


@pytest.fixture
def hostile_site(
    httpserver: HTTPServer,
    tmp_path: Path,
    db_url: str,
    engine: sa.Engine,
) -> Iterator[str]:
    httpserver.expect_request("/feed.rss").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    httpserver.expect_request("/feed.atom").respond_with_data(
        ATOM, content_type="application/atom+xml"
    )
    httpserver.expect_request("/feed.json").respond_with_data(
        JSON_FEED, content_type="application/feed+json"
    )
    registry = tmp_path / "clusters.yaml"
    registry.write_text(
        REGISTRY.format(base=httpserver.url_for("").rstrip("/")), encoding="utf-8"
    )
    app: Flask = create_app(
        {
            "DATABASE_URL": db_url,
            "ECOOP_REGISTRY": str(registry),
            "ECOOP_SCHEDULER": False,
            "ECOOP_PAGE_CACHE_SECONDS": 0,
            "TESTING": True,
        }
    )
    sessions = app.extensions["ecoop.sessions"]
    clock = Clock()
    with sessions() as db:
        index.sync_registry(db, load(registry), clock())
    runs = Harvester(sessions, make_http(), clock=clock, policy=LOOPBACK).run(
        due_only=False
    )
    assert {r.source: r.status for r in runs} == {
        "hostile/rss": "ok",
        "hostile/atom": "ok",
        "hostile/json": "ok",
    }
    with sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Offer)) == 4
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["ecoop.engine"].dispose()


def _crawl(page: Page, base: str, starts: list[str]) -> dict[str, list[str]]:
    """Visit the site's pages breadth-first from ``starts``; each page's problems."""
    queue, seen, problems = list(starts), set(starts), {}
    while queue and len(problems) < MAX_PAGES:
        path = queue.pop(0)
        response = page.goto(base + path)
        assert response is not None
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        problems[path] = page.evaluate(CHECK_PAGE)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url = urlsplit(href)
            target = url.path + (f"?{url.query}" if url.query else "")
            if (
                f"{url.scheme}://{url.netloc}" == base
                and url.path.split("/")[1:2] in (["en"], ["pl"], ["lt"])
                and "/feed." not in url.path
                and target not in seen
            ):
                seen.add(target)
                queue.append(target)
    return problems


def test_no_page_runs_anything_a_member_site_sent(
    page: Page, hostile_site: str
) -> None:
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: errors.append(str(e)))
    problems = _crawl(
        page, hostile_site, ["/en/", "/pl/offers/", "/lt/offers/?q=spawanie"]
    )
    offer_pages = [p for p in problems if p.split("/")[2:3] == ["offers"] and p[11:12]]
    assert len(offer_pages) >= 4, sorted(problems)  # every hostile offer was shown
    assert {p: bad for p, bad in problems.items() if bad} == {}
    assert dialogs == []
    assert errors == []
