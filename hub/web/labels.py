"""Translated labels for the codes the index stores (kinds, sectors, countries,
ESCO occupations, NACE codes, towns) and the facets of the search pages."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from ruamel.yaml import YAML

from hub.kinds import OfferKind
from hub.places import find_place

CLASSIFICATIONS_FILE = Path(__file__).parent.parent / "data" / "classifications.yaml"

KINDS = {
    OfferKind.BUSINESS_OFFER: _l("Business offer"),
    OfferKind.BUSINESS_REQUEST: _l("Business request"),
    OfferKind.TECHNOLOGY_OFFER: _l("Technology offer"),
    OfferKind.TECHNOLOGY_REQUEST: _l("Technology request"),
    OfferKind.JOB_OFFER: _l("Job offer"),
    OfferKind.JOB_SEEKING: _l("Job seeking"),
    OfferKind.EVENT: _l("Event"),
}

SECTORS = {
    "metalworking": _l("Metalworking"),
    "wood-furniture": _l("Wood and furniture"),
}


def kind(code: str) -> str:
    return str(KINDS.get(OfferKind(code), code)) if code in set(OfferKind) else code


def sector(code: str) -> str:
    return str(SECTORS.get(code, code))


def country(code: str | None) -> str:
    """The country's name in the visitor's language (CLDR, through Babel)."""
    if not code:
        return ""
    locale = get_locale()
    return str(locale.territories.get(code.upper(), code)) if locale else code


def language(code: str | None) -> str:
    if not code:
        return ""
    locale = get_locale()
    return str(locale.languages.get(code, code)) if locale else code


SOURCE_STATES = {
    "ok": _l("Healthy"),
    "failing": _l("Failing"),
    "attention": _l("Needs attention"),
    "new": _l("Not harvested yet"),
}

RUN_STATUSES = {
    "ok": _l("Harvested"),
    "not_modified": _l("Not modified"),
    "unchanged": _l("Unchanged"),
    "error": _l("Error"),
    "running": _l("Running"),
}


def source_state(code: str) -> str:
    return str(SOURCE_STATES.get(code, code))


def run_status(code: str) -> str:
    return str(RUN_STATUSES.get(code, code))


FACETS = {
    "kind": _l("Kind"),
    "cluster": _l("Cluster"),
    "country": _l("Country"),
    "town": _l("Town"),
    "language": _l("Language"),
    "sector": _l("Sector"),
    "organisation": _l("Organisation"),
    "occupation": _l("Occupation"),
    "posted": _l("Posted within"),
}


def facet(name: str) -> str:
    return str(FACETS.get(name, name))


def facet_value(name: str, value: str, names: Mapping[str, str] | None = None) -> str:
    """How a facet's value reads in the visitor's language; ``names`` maps the values
    only the database can name (cluster slugs, organisation ids)."""
    if name == "kind":
        return kind(value)
    if name == "country":
        return country(value)
    if name == "language":
        return language(value)
    if name == "town":
        return town(value)
    if name == "sector":
        return nace(value)
    if name == "occupation":
        return occupation(value)
    if name == "posted":
        return posted_within(value)
    return (names or {}).get(value, value)


def posted_within(days: str | int) -> str:
    number = int(days) if str(days).isdigit() else 0
    if number == 1:
        return str(_l("Last 24 hours"))
    return ngettext("Last %(num)d day", "Last %(num)d days", number)


def town(name: str | None) -> str:
    """A town's name in the visitor's language when the gazetteer knows it."""
    if not name:
        return ""
    place = find_place(name)
    return place.name(_language()) if place is not None else name


def occupation(uri: str) -> str:
    """An ESCO occupation's label (the URI's last part is a UUID): else the URI."""
    return _label("esco", uri) or uri


def nace(code: str) -> str:
    """A NACE Rev. 2 code with its label, when known."""
    label = _label("nace", code)
    return f"{code} {label}" if label else code


def _label(scheme: str, code: str) -> str | None:
    labels = _classifications().get(scheme, {}).get(code)
    if not labels:
        return None
    return str(labels.get(_language()) or labels.get("en") or "") or None


def _language() -> str:
    return str(g.get("lang") or "en")


@functools.cache
def _classifications() -> dict[str, dict[str, dict[str, Any]]]:
    data = YAML(typ="safe").load(CLASSIFICATIONS_FILE.read_text(encoding="utf-8"))
    return {
        scheme: {
            str(code): dict(labels) for code, labels in (data.get(scheme) or {}).items()
        }
        for scheme in ("esco", "nace")
    }
