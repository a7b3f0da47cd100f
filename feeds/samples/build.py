"""Builds a sample member site from its data: the feeds (with feeds.writer) and small
HTML pages (home, one page per offer and language version, one per firm).

Pure: data and ``now`` in, documents by server path out; no network, no files written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from html import escape

from feeds.profile import Offer
from feeds.samples.data import Site
from feeds.samples.data import feed_info
from feeds.samples.data import site_deleted
from feeds.samples.data import site_firms
from feeds.samples.data import site_offers
from feeds.writer import write_atom
from feeds.writer import write_json_feed

ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

# What the site's pages call things, in the languages of its offer pages.
_WORDS = {
    "pl": {
        "offers": "Oferty",
        "firms": "Firmy członkowskie",
        "valid": "Ważne do",
        "versions": "Inne wersje językowe",
        "firm": "Firma",
        "town": "Miejscowość",
        "home": "Strona główna",
        "capabilities": "Możliwości",
    },
    "lt": {
        "offers": "Pasiūlymai",
        "firms": "Klasterio įmonės",
        "valid": "Galioja iki",
        "versions": "Kitos kalbos",
        "firm": "Įmonė",
        "town": "Vietovė",
        "home": "Pradžia",
        "capabilities": "Galimybės",
    },
    "en": {
        "offers": "Offers",
        "firms": "Member companies",
        "valid": "Valid until",
        "versions": "Other languages",
        "firm": "Company",
        "town": "Town",
        "home": "Home",
        "capabilities": "Capabilities",
    },
}
_KINDS = {  # feeds/PROFILE.md, "Kinds"
    "business-offer": {
        "pl": "oferta współpracy",
        "lt": "bendradarbiavimo pasiūlymas",
        "en": "cooperation offer",
    },
    "business-request": {
        "pl": "zapytanie o współpracę",
        "lt": "bendradarbiavimo užklausa",
        "en": "cooperation request",
    },
    "technology-offer": {
        "pl": "oferta technologiczna",
        "lt": "technologijos pasiūlymas",
        "en": "technology offer",
    },
    "technology-request": {
        "pl": "zapytanie technologiczne",
        "lt": "technologijos užklausa",
        "en": "technology request",
    },
    "job-offer": {"pl": "oferta pracy", "lt": "darbo pasiūlymas", "en": "job offer"},
    "job-seeking": {"pl": "szukam pracy", "lt": "ieško darbo", "en": "job seeking"},
    "event": {"pl": "wydarzenie", "lt": "renginys", "en": "event"},
}
_FEED_TYPES = {
    "atom": "application/atom+xml",
    "json": "application/feed+json",
    "firms_atom": "application/atom+xml",
    "firms_json": "application/feed+json",
}


@dataclasses.dataclass(frozen=True)
class Document:
    content_type: str
    body: bytes


def build_site(site: Site, origin: str, now: datetime) -> dict[str, Document]:
    """Every generated document of ``site`` by server path, for a server at
    ``origin`` (``http://127.0.0.1:8401``) on the day of ``now``."""
    offers = site_offers(site, origin, now)
    firms = site_firms(site, origin, now)
    deleted = site_deleted(site, now)
    docs: dict[str, Document] = {}
    for name, items, gone in (
        ("atom", offers, deleted),
        ("json", offers, deleted),
        ("firms_atom", firms, ()),
        ("firms_json", firms, ()),
    ):
        info = feed_info(site, origin, name)
        if name.endswith("atom"):
            docs[site.feed_path(name)] = Document(
                ATOM_TYPE, write_atom(info, items, gone)
            )
        else:
            docs[site.feed_path(name)] = Document(
                JSON_FEED_TYPE, write_json_feed(info, items, gone)
            )
    home = _page(site, site.language, site.name, _home(site, offers, firms), True)
    docs[site.path("")] = docs[site.path("index.html")] = home
    for offer in offers:
        language = offer.language or site.language
        page = _page(site, language, offer.title, _offer(offer))
        docs[offer.link.removeprefix(origin)] = page
    for firm in firms:
        page = _page(site, site.language, firm.title, _firm(firm))
        docs[firm.link.removeprefix(origin)] = page
    return docs


def _home(site: Site, offers: list[Offer], firms: list[Offer]) -> str:
    words = _WORDS[site.language]
    own = [o for o in offers if o.language == site.language or not o.alternates]
    return (
        f"<h1>{escape(site.name)}</h1>\n<p>{escape(site.subtitle)}</p>\n"
        f"<h2>{words['offers']}</h2>\n"
        f'<ul class="offers">\n{_items(own, site.language)}</ul>\n'
        f"<h2>{words['firms']}</h2>\n"
        f'<ul class="firms">\n{_items(firms, site.language)}</ul>\n'
        "<p>"
        + " · ".join(
            f'<a href="{escape(site.feed_path(name))}">{name}</a>'
            for name in _FEED_TYPES
        )
        + "</p>\n"
    )


def _items(offers: Iterable[Offer], language: str) -> str:
    out = ""
    for offer in offers:
        kind = _KINDS[offer.kind.value][language] if offer.kind else ""
        lang = f' lang="{offer.language}"' if offer.language != language else ""
        out += (
            f'<li><a href="{escape(offer.link)}"{lang}>{escape(offer.title)}</a>'
            + (f' <span class="kind">{kind}</span>' if kind else "")
            + "</li>\n"
        )
    return out


def _offer(offer: Offer) -> str:
    language = offer.language or "en"
    words = _WORDS[language]
    facts = []
    if offer.kind:
        facts.append(("", _KINDS[offer.kind.value][language]))
    if offer.organisation:
        facts.append((words["firm"], offer.organisation.name))
    if offer.location and offer.location.town:
        facts.append((words["town"], offer.location.town))
    if offer.valid_through:
        facts.append((words["valid"], f"{offer.valid_through:%Y-%m-%d}"))
    versions = "".join(
        f'<li><a href="{escape(url)}" hreflang="{lang}" lang="{lang}">{lang}</a></li>'
        for lang, url in offer.alternates.items()
    )
    return (
        f"<h1>{escape(offer.title)}</h1>\n"
        + _facts(facts)
        + f'<p class="summary">{escape(offer.summary or "")}</p>\n'
        + (offer.content_html or "")  # the site's own HTML, as in its feed
        + (f"\n<h2>{words['versions']}</h2>\n<ul>{versions}</ul>" if versions else "")
    )


def _firm(firm: Offer) -> str:
    language = firm.language or "en"
    org = firm.organisation
    assert org is not None
    caps = "".join(f"<li>{escape(c)}</li>" for c in org.capabilities)
    facts = [(_WORDS[language]["town"], org.town or "")]
    return (
        f"<h1>{escape(firm.title)}</h1>\n"
        + _facts(facts)
        + (firm.content_html or "")
        + f"\n<h2>{_WORDS[language]['capabilities']}</h2>\n"
        + f'<ul class="capabilities">{caps}</ul>\n'
        + (
            f'<p><a href="{escape(org.website)}">{escape(org.website)}</a></p>\n'
            if org.website
            else ""
        )
    )


def _facts(facts: list[tuple[str, str]]) -> str:
    rows = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" if k else f"<dd>{escape(v)}</dd>"
        for k, v in facts
    )
    return f'<dl class="facts">{rows}</dl>\n'


def _page(
    site: Site, language: str, title: str, body: str, feeds: bool = False
) -> Document:
    """A whole HTML page; the home page (``feeds``) advertises the site's feeds."""
    head = "".join(
        f'<link rel="alternate" type="{kind}" href="{escape(site.feed_path(name))}">\n'
        for name, kind in (_FEED_TYPES.items() if feeds else ())
    )
    html = (
        f'<!DOCTYPE html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="stylesheet" href="{escape(site.path("style.css"))}">\n'
        f"{head}</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return Document(HTML_TYPE, html.encode("utf-8"))
