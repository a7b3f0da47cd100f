"""Translated labels for the codes the index stores (kinds, sectors, countries)."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from hub.kinds import OfferKind

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
    "language": _l("Language"),
}


def facet(name: str) -> str:
    return str(FACETS.get(name, name))


def facet_value(name: str, value: str, cluster_names: dict[str, str]) -> str:
    """How a facet's value reads in the visitor's language."""
    if name == "kind":
        return kind(value)
    if name == "cluster":
        return cluster_names.get(value, value)
    if name == "country":
        return country(value)
    if name == "language":
        return language(value)
    return value
