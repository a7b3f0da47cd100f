"""schema.org entities (JSON-LD or microdata, as extruct gives them) -> RawItem:
JobPosting, Offer / Demand (and Product / Service with offers), Event, and
Organization / LocalBusiness as company profiles.

Pure: dicts in, raw items out; no network, no HTML parsing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from connectors.base import RawItem
from feeds.profile import Contact
from feeds.profile import Location
from feeds.profile import OfferKind
from feeds.profile import Organisation
from feeds.profile import is_country

_KINDS = {
    "JobPosting": OfferKind.JOB_OFFER,
    "Offer": OfferKind.BUSINESS_OFFER,
    "AggregateOffer": OfferKind.BUSINESS_OFFER,
    "Demand": OfferKind.BUSINESS_REQUEST,
}
_OFFERED = ("Product", "Service", "IndividualProduct", "ProductModel")
_COMPANIES = frozenset(
    """Organization LocalBusiness Corporation ProfessionalService Store
    HomeAndConstructionBusiness AutomotiveBusiness FinancialService
    EmploymentAgency NGO EducationalOrganization GovernmentOrganization
    ResearchOrganization OnlineBusiness Manufacturer""".split()
)
_CONTAINERS = ("mainEntity", "itemListElement", "item")  # where pages nest entities
_ORGANISATIONS = ("hiringOrganization", "seller", "offeredBy", "organizer", "provider")
_ESCO = re.compile(r"https?://data\.europa\.eu/esco/(occupation|isco)/\S+\Z")
_COUNTRIES = {  # names and ISO alpha-3 codes seen in addressCountry, folded
    **dict.fromkeys(["poland", "polska", "lenkija", "pol", "польша"], "PL"),
    **dict.fromkeys(["lithuania", "lietuva", "litwa", "ltu", "литва"], "LT"),
    **dict.fromkeys(["latvia", "latvija", "łotwa", "lva", "латвия"], "LV"),
    **dict.fromkeys(["estonia", "eesti", "estonija", "est"], "EE"),
    **dict.fromkeys(["germany", "deutschland", "niemcy", "vokietija", "deu"], "DE"),
    **dict.fromkeys(["belarus", "białoruś", "baltarusija", "blr"], "BY"),
    **dict.fromkeys(["ukraine", "ukraina", "україна", "ukr"], "UA"),
}
_TAX_SCHEMES = {"PL": "nip", "LT": "jar"}  # taxID: NIP in Poland, company code in LT


def type_names(node: Mapping[str, Any]) -> set[str]:
    """The node's types without prefix (``schema:JobPosting``, a schema.org IRI)."""
    value = node.get("@type")
    names = value if isinstance(value, list) else [value]
    return {re.split(r"[/:#]", n)[-1] for n in names if isinstance(n, str)}


def entities(roots: Iterable[Any]) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """Every entity of a page worth an item, with whether it is the page's subject
    (top level and not referenced by another node, or a ``mainEntity``).

    ``@graph`` members are top-level; containers (``mainEntity``, an ItemList's
    elements) are walked a few levels deep.
    """
    nodes = list(_flatten(roots))
    referenced = {
        value["@id"]
        for node in nodes
        for key, value in node.items()
        if key not in ("@id", "mainEntity") and isinstance(value, dict)
        if isinstance(value.get("@id"), str)
    }
    for node in nodes:
        subject = node.get("@id") not in referenced
        yield from _walk(node, subject, 0)


def graph(roots: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    """The page's top-level and ``@graph`` nodes by ``@id``, to resolve references."""
    return {n["@id"]: n for n in _flatten(roots) if isinstance(n.get("@id"), str)}


def to_item(
    node: Mapping[str, Any],
    subject: bool,
    page: str,
    graph: Mapping[str, Mapping[str, Any]],
    language: str | None = None,
) -> RawItem | None:
    """The raw item of one entity, or None (not an item type; a company that is not
    the page's subject; no title).

    Args:
        page: the page URL, to resolve relative links against.
        graph: the page's nodes by ``@id``, to resolve references.
        language: the page's own language (``<html lang>``), if the entity has none.
    """
    types = type_names(node)
    get = _Getter(graph)
    kind = next((_KINDS[t] for t in types if t in _KINDS), None)
    if kind is None and types & set(_OFFERED) and get.one(node, "offers"):
        kind = OfferKind.BUSINESS_OFFER
    if kind is None and any(t.endswith("Event") or t == "Festival" for t in types):
        kind = OfferKind.EVENT
    if kind == OfferKind.BUSINESS_OFFER and "Buy" in str(node.get("businessFunction")):
        kind = OfferKind.BUSINESS_REQUEST  # GoodRelations gr:Buy: a demand
    company = kind is None and bool(types & _COMPANIES)
    if kind is None and not (company and subject):
        return None
    offered = _mapping(get.one(node, "itemOffered"))
    offers = _mapping(get.one(node, "offers"))
    title = _text(node.get("title") or node.get("name") or offered.get("name"))
    if not title:
        return None
    organisation = (
        _organisation(node, get, page, capabilities=True)
        if company
        else next(
            (
                org
                for holder in (node, offers)
                for key in _ORGANISATIONS
                if (org := _organisation(get.one(holder, key), get, page)) is not None
            ),
            None,
        )
    )
    published = _date(
        node.get("datePosted") or node.get("datePublished") or node.get("validFrom")
    )
    ends = node.get("validThrough") or offers.get("validThrough")
    if kind == OfferKind.EVENT:
        ends = node.get("endDate") or node.get("startDate")
    link = _text(node.get("url"))
    return RawItem(
        guid=_guid(node),
        link=urljoin(page, link) if link else page,
        title=title,
        content=_description(node.get("description") or offered.get("description")),
        published=published,
        updated=_date(node.get("dateModified")),
        valid_through=_date(ends, end_of_day=True),
        categories=_categories(node),
        language=_language(node.get("inLanguage"), get) or language,
        kind=kind.value if kind else None,
        organisation=organisation,
        location=_location(node, get, kind),
        occupations=_occupations(get.all(node, "occupationalCategory")),
        contact=_contact(get.one(node, "applicationContact")),
    )


class _Getter:
    """Reads properties, resolving ``{"@id": ...}`` references through the graph."""

    def __init__(self, graph: Mapping[str, Mapping[str, Any]]) -> None:
        self.graph = graph

    def all(self, node: Any, key: str) -> list[Any]:
        if not isinstance(node, Mapping):
            return []
        value = node.get(key)
        values = value if isinstance(value, list) else [value]
        return [self.resolve(v) for v in values if v not in (None, "", [])]

    def one(self, node: Any, key: str) -> Any:
        return next(iter(self.all(node, key)), None)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Mapping) and set(value) == {"@id"}:
            return self.graph.get(value["@id"], value)
        return value


def _flatten(roots: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    for root in roots:
        if isinstance(root, list):
            yield from _flatten(root)
        elif isinstance(root, Mapping):
            if isinstance(root.get("@graph"), list):
                yield from _flatten(root["@graph"])
            if "@type" in root:
                yield root


def _walk(
    node: Mapping[str, Any], subject: bool, depth: int
) -> Iterator[tuple[Mapping[str, Any], bool]]:
    yield node, subject
    if depth >= 3:
        return
    for key in _CONTAINERS:
        value = node.get(key)
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, Mapping) and "@type" in child:
                yield from _walk(child, subject or key == "mainEntity", depth + 1)


def _organisation(
    node: Any, get: _Getter, page: str, *, capabilities: bool = False
) -> Organisation | None:
    if isinstance(node, str):
        return Organisation(name=_text(node)) if _text(node) else None
    if not isinstance(node, Mapping):
        return None
    name = _text(node.get("name") or node.get("legalName"))
    if not name:
        return None
    place = _address(get.one(node, "address"), get)
    country = place.country if place else None
    ids = {
        scheme: _text(node.get(key))
        for key, scheme in (("vatID", "vat"), ("leiCode", "lei"), ("duns", "duns"))
        if _text(node.get(key))
    }
    if _text(node.get("taxID")) and country in _TAX_SCHEMES:
        ids.setdefault(_TAX_SCHEMES[country], _text(node.get("taxID")))
    for value in get.all(node, "identifier"):
        if isinstance(value, Mapping) and _text(value.get("value")):
            scheme = _text(value.get("propertyID")).lower()
            if scheme in ("vat", "krs", "nip", "regon", "jar", "lei", "duns"):
                ids.setdefault(scheme, _text(value.get("value")))
    website = _text(node.get("url")) or next(
        (u for u in _values(node.get("sameAs"), "url") if u.startswith("http")), ""
    )
    return Organisation(
        name=name,
        country=country,
        town=place.town if place else None,
        website=urljoin(page, website) if website else None,
        identifiers=ids,
        capabilities=_capabilities(node, get) if capabilities else (),
    )


def _capabilities(node: Mapping[str, Any], get: _Getter) -> tuple[str, ...]:
    """What a company does: ``knowsAbout``, the names of what it ``makesOffer`` and
    of its ``hasOfferCatalog``; else its specific type (``AutoRepair``)."""
    found = [*_values(node.get("knowsAbout"), "name")]
    for offer in get.all(node, "makesOffer"):
        found += _values(get.one(offer, "itemOffered"), "name")
    for catalog in get.all(node, "hasOfferCatalog"):
        for element in get.all(catalog, "itemListElement"):
            found += _values(get.one(element, "itemOffered") or element, "name")
    if not found:
        found = sorted(type_names(node) - {"Organization", "LocalBusiness"})
    return tuple(dict.fromkeys(found)) or ("Organization",)


def _location(
    node: Mapping[str, Any], get: _Getter, kind: OfferKind | None
) -> Location | None:
    keys = ("jobLocation", "availableAtOrFrom", "location", "address")
    for key in keys:
        for place in get.all(node, key):
            if isinstance(place, Mapping) and "address" in place:
                found = _address(get.one(place, "address"), get, place)
            else:
                found = _address(place, get)
            if found and (found.town or found.country):
                return found
    return None


def _address(
    value: Any, get: _Getter, place: Mapping[str, Any] | None = None
) -> Location | None:
    geo = _mapping(get.one(place, "geo"))
    lat, lon = _number(geo.get("latitude")), _number(geo.get("longitude"))
    if isinstance(value, str):  # "Vilnius, Lithuania": a town, maybe a country
        parts = [_text(p) for p in value.split(",") if _text(p)]
        countries = [c for p in parts if (c := _country(p))]
        towns = [p for p in parts if not _country(p)]
        return Location(
            country=countries[-1] if countries else None,
            town=towns[0] if towns else None,
        )
    if not isinstance(value, Mapping):
        return None
    country = get.resolve(value.get("addressCountry"))
    if isinstance(country, Mapping):
        country = country.get("identifier") or country.get("name")
    if "addressLocality" not in value and type_names(value) & {"Country"}:
        country = value.get("identifier") or value.get("name")
    return Location(
        country=_country(country),
        town=_text(value.get("addressLocality")) or None,
        postal_code=_text(value.get("postalCode")) or None,
        lat=lat,
        lon=lon,
    )


def _country(value: Any) -> str | None:
    text = _text(value).strip(" .")
    if len(text) == 2 and is_country(text.upper()):
        return text.upper()
    return _COUNTRIES.get(text.lower())


def _contact(node: Any) -> Contact | None:
    if not isinstance(node, Mapping):
        return None
    name, email, phone = (
        _text(node.get(k)) or None for k in ("name", "email", "telephone")
    )
    if email and email.lower().startswith("mailto:"):
        email = email[7:]
    return Contact(name, email, phone) if (name or email or phone) else None


def _categories(node: Mapping[str, Any]) -> tuple[str, ...]:
    found = [
        v.replace("_", " ").lower() for v in _values(node.get("employmentType"), "")
    ]
    found += [
        v
        for key in ("occupationalCategory", "industry", "category")
        for v in _values(node.get(key), "name")
        if not _ESCO.match(v)
    ]
    return tuple(dict.fromkeys(found))


def _occupations(values: list[Any]) -> tuple[str, ...]:
    """ESCO URIs among the values; an ISCO-08 CategoryCode as its ESCO ISCO URI."""
    found = []
    for value in values:
        if isinstance(value, Mapping):
            code = _text(value.get("codeValue"))
            if "ISCO" in _text(value.get("inCodeSet")).upper() and code.isdigit():
                value = f"http://data.europa.eu/esco/isco/C{code}"
            else:
                value = value.get("@id") or value.get("url") or code
        if _ESCO.match(_text(value)):
            found.append(_text(value))
    return tuple(dict.fromkeys(found))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _values(value: Any, key: str) -> list[str]:
    """Texts of a property that may be a string, a list, or nodes (their ``key``)."""
    values = value if isinstance(value, list) else [value]
    found = []
    for v in values:
        if isinstance(v, Mapping):
            v = (v.get(key) or v.get("name")) if key else None
        if _text(v):
            found.append(_text(v))
    return found


def _guid(node: Mapping[str, Any]) -> str | None:
    """The entity's ``identifier`` (a PropertyValue's value, or text), else its
    ``@id``; None lets the page loop give it ``page#n``."""
    identifier = node.get("identifier")
    if isinstance(identifier, list):
        identifier = identifier[0] if identifier else None
    if isinstance(identifier, Mapping):
        identifier = identifier.get("value") or identifier.get("@id")
    return _text(identifier) or _text(node.get("@id")) or None


def _language(value: Any, get: _Getter) -> str | None:
    value = get.resolve(value[0] if isinstance(value, list) and value else value)
    if isinstance(value, Mapping):
        value = value.get("alternateName") or value.get("name")
    text = _text(value)
    tag = text.split("-")[0].split("_")[0].lower()
    return tag if re.fullmatch(r"[a-z]{2,3}", tag) else None


def _description(value: Any) -> str | None:
    """HTML as published; text escaped once more than needed (``&lt;p&gt;``, seen in
    WordPress plugins) is unescaped."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if isinstance(v, str))
    if not isinstance(value, str) or not value.strip():
        return None
    if "<" not in value and "&lt;" in value:
        return html.unescape(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return " ".join(html.unescape(value).split())


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any, *, end_of_day: bool = False) -> datetime | None:
    """ISO 8601 text as an aware datetime (UTC when no offset). A date alone is its
    start, or for an end (``validThrough``) the end of that day."""
    text = _text(value)
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(), UTC) + (
                timedelta(days=1) if end_of_day else timedelta()
            )
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
