"""The sample member sites' content: the data files in data/ as profile objects.

Reads only the packaged YAML files; the clock is passed in. Dates in the data are
relative (``days_ago``, ``valid_days``) to the site's day, so the demo never goes
stale, and everything here is a pure function of ``now``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from ruamel.yaml import YAML

from feeds.profile import KINDS
from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import Category
from feeds.profile import Contact
from feeds.profile import Deleted
from feeds.profile import FeedInfo
from feeds.profile import Location
from feeds.profile import Offer
from feeds.profile import OfferKind
from feeds.profile import Organisation

DATA_DIR = Path(__file__).resolve().parent / "data"
SITE_SLUGS = ("metalklaster", "medienospartneriai")
TAG_YEAR = 2026  # the year in every tag: id; ids never change with the clock

_SITE_KEYS = {"slug", "name", "host", "language", "country", "timezone", "title"}
_SITE_KEYS |= {"subtitle", "firms_title", "pages", "firm_pages", "feeds"}
_FIRM_KEYS = {"key", "name", "town", "website", "identifiers", "nace", "title"}
_FIRM_KEYS |= {"summary", "body", "capabilities", "updated_days_ago"}
_OFFER_KEYS = {"key", "kind", "firm", "town", "days_ago", "valid_days", "at"}
_OFFER_KEYS |= {"nace", "esco", "contact", "text"}
_TEXT_KEYS = {"title", "summary", "body", "tags"}


class SampleDataError(ValueError):
    """A data file does not follow the format described at its top."""


@dataclasses.dataclass(frozen=True)
class Site:
    """One sample member site as its data file describes it."""

    slug: str
    name: str
    host: str
    language: str
    country: str
    timezone: str
    title: str
    subtitle: str
    firms_title: str
    pages: dict[str, str]  # language -> path segment of its offer pages
    firm_pages: str
    feeds: dict[str, str]  # atom, json, firms_atom, firms_json -> path in the site
    firms: tuple[dict[str, Any], ...]
    offers: tuple[dict[str, Any], ...]
    withdrawn: tuple[dict[str, Any], ...]

    @property
    def tz(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except ZoneInfoNotFoundError:  # no tz database on this machine
            return UTC

    def path(self, rel: str) -> str:
        """The server path of ``rel`` inside this site: ``/metalklaster/feed/``."""
        return f"/{self.slug}/{rel}"

    def feed_path(self, name: str) -> str:
        return self.path(self.feeds[name])

    def offer_path(self, key: str, language: str) -> str:
        return self.path(f"{self.pages[language]}/{key}/")

    def firm_path(self, key: str) -> str:
        return self.path(f"{self.firm_pages}/{key}/")

    def tag(self, what: str) -> str:
        return f"tag:{self.host},{TAG_YEAR}:{what}"

    def offer_id(self, key: str, language: str) -> str:
        return self.tag(f"offer/{key}/{language}")

    def firm(self, key: str) -> dict[str, Any]:
        return next(f for f in self.firms if f["key"] == key)


@functools.cache
def load_classifications(data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """NACE labels, ESCO occupations and towns shared by the sites."""
    data = _read(data_dir / "classifications.yaml")
    for part in ("nace", "esco", "towns"):
        if not isinstance(data.get(part), dict):
            raise SampleDataError(f"classifications.yaml: {part}: missing")
    return data


@functools.cache
def load_site(slug: str, data_dir: Path = DATA_DIR) -> Site:
    """The site ``slug`` from ``data_dir/<slug>.yaml``, checked.

    Raises:
        SampleDataError: a missing or unknown key, a reference to an unknown firm,
            town, sector or occupation, a date in the future.
    """
    path = data_dir / f"{slug}.yaml"
    data = _read(path)
    site = data.get("site") or {}
    _keys(site, _SITE_KEYS, f"{path.name}: site", required=_SITE_KEYS)
    firms = tuple(data.get("firms") or ())
    offers = tuple(data.get("offers") or ())
    withdrawn = tuple(data.get("withdrawn") or ())
    result = Site(**site, firms=firms, offers=offers, withdrawn=withdrawn)
    _check(result, load_classifications(data_dir), path.name)
    return result


def load_sites(data_dir: Path = DATA_DIR) -> tuple[Site, ...]:
    return tuple(load_site(slug, data_dir) for slug in SITE_SLUGS)


def site_day(site: Site, now: datetime) -> date:
    """The site's "today": the date of ``now`` in the site's time zone."""
    return now.astimezone(site.tz).date()


def published_at(
    site: Site, offer: Mapping[str, Any], index: int, now: datetime
) -> datetime:
    """When the offer was published: ``days_ago`` before the site's day."""
    if "at" in offer:
        hour, minute = (int(x) for x in str(offer["at"]).split(":"))
    else:  # spread over the working day, stable per offer
        hour, minute = 7 + index % 10, (index * 17) % 60
    day = site_day(site, now) - timedelta(days=int(offer["days_ago"]))
    return datetime.combine(day, time(hour, minute), site.tz)


def site_offers(site: Site, origin: str, now: datetime) -> list[Offer]:
    """Every language version of every offer, as the site publishes them."""
    classes = load_classifications()
    out = []
    for index, data in enumerate(site.offers):
        published = published_at(site, data, index, now)
        valid = data.get("valid_days")
        valid_through = (
            datetime.combine(
                published.date() + timedelta(days=int(valid)), time(23, 59), site.tz
            )
            if valid is not None
            else None
        )
        firm = site.firm(data["firm"]) if data.get("firm") else None
        texts: dict[str, dict[str, Any]] = data["text"]
        links = {lang: origin + site.offer_path(data["key"], lang) for lang in texts}
        group = site.tag(f"group/{data['key']}") if len(texts) > 1 else None
        for lang, text in texts.items():
            categories = [_nace(code, lang, classes) for code in data.get("nace", ())]
            categories += [_esco(key, lang, classes) for key in data.get("esco", ())]
            categories += [Category(tag) for tag in text.get("tags", ())]
            out.append(
                Offer(
                    id=site.offer_id(data["key"], lang),
                    title=text["title"],
                    link=links[lang],
                    kind=OfferKind(data["kind"]),
                    language=lang,
                    summary=text.get("summary"),
                    content_html=(text.get("body") or "").strip() or None,
                    published=published,
                    updated=published,
                    valid_through=valid_through,
                    organisation=_organisation(site, firm, classes) if firm else None,
                    location=_location(data.get("town") or (firm or {}).get("town")),
                    categories=tuple(categories),
                    contact=Contact(**data["contact"]) if "contact" in data else None,
                    group=group,
                    alternates={k: v for k, v in links.items() if k != lang},
                )
            )
    return out


def site_firms(site: Site, origin: str, now: datetime) -> list[Offer]:
    """The member firms as company profiles (no kind; capabilities)."""
    classes = load_classifications()
    day = site_day(site, now)
    out = []
    for firm in site.firms:
        updated = datetime.combine(
            day - timedelta(days=int(firm["updated_days_ago"])), time(12), site.tz
        )
        org = _organisation(site, firm, classes)
        out.append(
            Offer(
                id=site.tag(f"company/{firm['key']}"),
                title=firm["title"],
                link=origin + site.firm_path(firm["key"]),
                language=site.language,
                summary=firm.get("summary"),
                content_html=(firm.get("body") or "").strip() or None,
                updated=updated,
                organisation=dataclasses.replace(
                    org, capabilities=tuple(firm["capabilities"])
                ),
                location=_location(firm["town"]),
                categories=tuple(
                    _nace(code, site.language, classes) for code in firm["nace"]
                ),
            )
        )
    return out


def site_deleted(site: Site, now: datetime) -> list[Deleted]:
    """The offers the site withdrew lately (RFC 6721 tombstones)."""
    return [
        Deleted(
            site.offer_id(gone["key"], site.language),
            published_at(site, gone, 0, now),
        )
        for gone in site.withdrawn
    ]


def feed_info(site: Site, origin: str, name: str) -> FeedInfo:
    """The feed ``name`` (atom, json, firms_atom, firms_json): complete listings."""
    firms = name.startswith("firms")
    return FeedInfo(
        title=site.firms_title if firms else site.title,
        link=origin + site.path(""),
        id=site.tag("companies" if firms else "offers"),
        language=site.language,
        complete=True,
        self_url=origin + site.feed_path(name),
        subtitle=None if firms else site.subtitle,
        author=site.name,
    )


def sample_offers(now: datetime, origin: str = "") -> dict[str, list[Offer]]:
    """Every site's offers (each language version) by site slug, as the server
    at ``origin`` publishes them on the day of ``now``: what tests expect."""
    return {site.slug: site_offers(site, origin, now) for site in load_sites()}


def sample_firms(now: datetime, origin: str = "") -> dict[str, list[Offer]]:
    """Every site's company profiles by site slug (see sample_offers)."""
    return {site.slug: site_firms(site, origin, now) for site in load_sites()}


def is_live(offer: Offer, now: datetime) -> bool:
    """Not past its valid-through at ``now`` (the hub lists live offers only)."""
    return offer.valid_through is None or offer.valid_through > now


# --- building blocks -----------------------------------------------------------------


def _organisation(
    site: Site, firm: Mapping[str, Any], classes: Mapping[str, Any]
) -> Organisation:
    return Organisation(
        name=firm["name"],
        country=classes["towns"][firm["town"]]["country"],
        town=firm["town"],
        website=firm.get("website"),
        identifiers=dict(firm.get("identifiers") or {}),
    )


def _location(town: str | None) -> Location | None:
    if not town:
        return None
    place = load_classifications()["towns"][town]
    return Location(
        country=place["country"],
        town=town,
        postal_code=place["postal_code"],
        lat=float(place["lat"]),
        lon=float(place["lon"]),
    )


def _nace(code: str, language: str, classes: Mapping[str, Any]) -> Category:
    labels = classes["nace"][code]
    return Category(code, SCHEME_NACE, labels.get(language) or labels["en"])


def _esco(key: str, language: str, classes: Mapping[str, Any]) -> Category:
    occupation = classes["esco"][key]
    label = occupation.get(language) or occupation["en"]
    return Category(occupation["uri"], SCHEME_ESCO_OCCUPATION, label)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - any reading or syntax error
        raise SampleDataError(f"{path.name}: {e}") from e
    if not isinstance(data, dict):
        raise SampleDataError(f"{path.name}: expected a mapping")
    return data


def _keys(
    data: Any, allowed: set[str], where: str, required: Iterable[str] = ()
) -> None:
    if not isinstance(data, dict):
        raise SampleDataError(f"{where}: expected a mapping")
    if unknown := sorted(set(data) - allowed):
        raise SampleDataError(f"{where}: unknown key {unknown[0]!r}")
    if missing := sorted(set(required) - set(data)):
        raise SampleDataError(f"{where}: missing key {missing[0]!r}")


def _check(site: Site, classes: Mapping[str, Any], name: str) -> None:
    """Every reference resolves, every offer is dated in the past."""
    towns, nace, esco = classes["towns"], classes["nace"], classes["esco"]
    required = {"key", "name", "town", "nace", "title", "capabilities"}
    firm_keys = set()
    for i, firm in enumerate(site.firms):
        where = f"{name}: firms[{i}]"
        _keys(firm, _FIRM_KEYS, where, required | {"updated_days_ago"})
        if firm["town"] not in towns:
            raise SampleDataError(f"{where}.town: unknown town {firm['town']!r}")
        if unknown := [c for c in firm["nace"] if c not in nace]:
            raise SampleDataError(f"{where}.nace: unknown code {unknown[0]!r}")
        if not all(isinstance(c, str) for c in firm["capabilities"]):
            raise SampleDataError(f"{where}.capabilities: quote items with ': '")
        firm_keys.add(firm["key"])
    seen = set()
    for i, offer in enumerate(site.offers):
        where = f"{name}: offers[{i}]"
        _keys(offer, _OFFER_KEYS, where, {"key", "kind", "days_ago", "text"})
        if offer["key"] in seen:
            raise SampleDataError(f"{where}.key: duplicate {offer['key']!r}")
        seen.add(offer["key"])
        if offer["kind"] not in KINDS:
            raise SampleDataError(f"{where}.kind: unknown kind {offer['kind']!r}")
        if offer.get("firm") and offer["firm"] not in firm_keys:
            raise SampleDataError(f"{where}.firm: unknown firm {offer['firm']!r}")
        if not offer.get("firm") and not offer.get("town"):
            raise SampleDataError(f"{where}: an offer without firm needs a town")
        if offer.get("town") and offer["town"] not in towns:
            raise SampleDataError(f"{where}.town: unknown town {offer['town']!r}")
        if int(offer["days_ago"]) < 1:  # published before the site's day: never future
            raise SampleDataError(f"{where}.days_ago: must be 1 or more")
        if unknown := [c for c in offer.get("nace", ()) if c not in nace]:
            raise SampleDataError(f"{where}.nace: unknown code {unknown[0]!r}")
        if unknown := [c for c in offer.get("esco", ()) if c not in esco]:
            raise SampleDataError(f"{where}.esco: unknown occupation {unknown[0]!r}")
        texts = offer["text"]
        if not isinstance(texts, dict) or not texts:
            raise SampleDataError(f"{where}.text: one block per language")
        for lang, text in texts.items():
            _keys(text, _TEXT_KEYS, f"{where}.text.{lang}", {"title"})
            if lang not in site.pages:
                raise SampleDataError(f"{where}.text.{lang}: no pages in {lang}")
    for i, gone in enumerate(site.withdrawn):
        if gone.get("key") in seen:
            raise SampleDataError(f"{name}: withdrawn[{i}]: still listed")
