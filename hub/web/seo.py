"""For search engines and browsers: ``/robots.txt``, ``/sitemap.xml`` (offer pages in
every UI language with hreflang alternates; a sitemap index over numbered files when
there are more URLs than one file may hold) and an OpenSearch description per
language, ``/<lang>/opensearch.xml``. XML is built with lxml."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import abort
from flask import current_app
from flask import g
from flask import request
from flask import url_for
from flask_babel import gettext as _
from lxml import etree
from werkzeug.wrappers import Response

from feeds.profile import format_datetime
from hub import exports
from hub.db import get_session
from hub.registry import UI_LANGUAGES
from hub.web.localized import localized_blueprint

bp = Blueprint("seo", __name__)
localized_bp = localized_blueprint("opensearch", __name__)

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"  # hreflang alternates (Google's extension)
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
# sitemaps.org: at most 50,000 URLs (and 50 MB) per file. Each offer is one URL per
# UI language; the site's own pages go in the first file.
URLS_PER_FILE = 50_000
# The site's own pages, where the app has them (home, searches, directories).
SITE_PAGES = (
    "pages.home",
    "pages.offers",
    "jobs.jobs",
    "companies.companies",
    "clusters.clusters",
)
CACHE_CONTROL = "public, max-age=3600"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(localized_bp)


@bp.get("/robots.txt")
def robots() -> Response:
    """The site is open to crawlers; the API and search permutations (any URL with
    a query string: filters, pages, sorts, the feed checker) are not (RFC 9309)."""
    lines = [
        "User-agent: *",
        "Allow: /",
        "Disallow: /api/",
        "Disallow: /*?",
        "",
        f"Sitemap: {url_for('seo.sitemap', _external=True)}",
    ]
    return _cached(Response("\n".join(lines) + "\n", mimetype="text/plain"))


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """One sitemap, or an index of numbered ones when the URLs do not fit in one."""
    files = _file_count()
    if files == 1:
        return _sitemap_file(0)
    root = etree.Element(f"{{{SITEMAP_NS}}}sitemapindex", nsmap={None: SITEMAP_NS})
    for n in range(1, files + 1):
        entry = etree.SubElement(root, f"{{{SITEMAP_NS}}}sitemap")
        loc = url_for("seo.sitemap_part", n=n, _external=True)
        etree.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = loc
    return _xml(root, "application/xml")


@bp.get("/sitemap-<int:n>.xml")
def sitemap_part(n: int) -> Response:
    files = _file_count()
    if files == 1 or not 1 <= n <= files:
        abort(404)
    return _sitemap_file(n - 1)


def _site_pages() -> list[str]:
    return [e for e in SITE_PAGES if e in current_app.view_functions]


def _file_count() -> int:
    per_file = URLS_PER_FILE // len(UI_LANGUAGES)  # offers per file
    offers = exports.count_live_offers(get_session()) + len(_site_pages())
    return max(1, -(-offers // per_file))


def _sitemap_file(index: int) -> Response:
    """The ``index``-th file (from 0) of the site's pages followed by the live
    offers by id, ``per_file`` of them a file."""
    per_file = URLS_PER_FILE // len(UI_LANGUAGES)
    root = etree.Element(
        f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS, "xhtml": XHTML_NS}
    )
    pages = _site_pages()
    first, end = index * per_file, (index + 1) * per_file
    for endpoint in pages[first:end]:
        _add_url(root, endpoint, {}, None)
    start = max(first, len(pages)) - len(pages)  # offers before this file
    count = end - max(first, len(pages))
    if count > 0:
        for offer_id, changed in exports.list_offer_stamps(get_session(), start, count):
            _add_url(root, "pages.offer", {"offer_id": offer_id}, changed)
    return _xml(root, "application/xml")


def _add_url(
    root: etree._Element, endpoint: str, args: dict[str, Any], changed: datetime | None
) -> None:
    """One <url> per UI language, each listing every language version (itself
    included) as an alternate, as hreflang in sitemaps asks."""
    urls = {
        lang: url_for(endpoint, lang=lang, _external=True, **args)
        for lang in UI_LANGUAGES
    }
    for url in urls.values():
        entry = etree.SubElement(root, f"{{{SITEMAP_NS}}}url")
        etree.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = url
        if changed is not None:
            lastmod = etree.SubElement(entry, f"{{{SITEMAP_NS}}}lastmod")
            lastmod.text = format_datetime(changed.replace(microsecond=0))
        for lang, href in urls.items():
            _alternate(entry, lang, href)


def _alternate(entry: etree._Element, lang: str, href: str) -> None:
    link = etree.SubElement(entry, f"{{{XHTML_NS}}}link")
    link.attrib.update({"rel": "alternate", "hreflang": lang, "href": href})


@localized_bp.get("/opensearch.xml")
def opensearch() -> Response:
    """The OpenSearch 1.1 description of the offers search in this language."""
    search = url_for("pages.offers", _external=True)
    atom = url_for("outfeeds.offers_feed", fmt="atom", _external=True)
    root = etree.Element(
        f"{{{OPENSEARCH_NS}}}OpenSearchDescription", nsmap={None: OPENSEARCH_NS}
    )
    _os(root, "ShortName", "e-cooperation")  # at most 16 characters
    _os(root, "Description", _("Search the offers of the e-cooperation.eu clusters"))
    _os(root, "InputEncoding", "UTF-8")
    _os(root, "Language", g.lang)
    # {searchTerms} is the template's placeholder: written as is, never URL-encoded
    for type_, template, rel in (
        ("text/html", f"{search}?q={{searchTerms}}", "results"),
        ("application/atom+xml", f"{atom}?q={{searchTerms}}", "results"),
        ("application/opensearchdescription+xml", request.base_url, "self"),
    ):
        url = _os(root, "Url")
        url.attrib.update({"type": type_, "template": template, "rel": rel})
    return _xml(root, "application/opensearchdescription+xml")


def _os(root: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(root, f"{{{OPENSEARCH_NS}}}{tag}")
    el.text = text
    return el


def _xml(root: etree._Element, mimetype: str) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return _cached(Response(body, mimetype=mimetype))


def _cached(response: Response) -> Response:
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.add_etag()
    return response.make_conditional(request)
