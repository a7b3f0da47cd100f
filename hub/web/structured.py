"""schema.org JSON-LD for an offer page, so search engines (job search included)
understand it. Serialised by Jinja's ``tojson``, which escapes ``<``, ``>``, ``&``
and ``'``: harvested text can never close the script element it lives in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.kinds import OfferKind
from hub.models import Offer
from hub.text import is_http_url

_TYPES = {
    OfferKind.JOB_OFFER: "JobPosting",
    OfferKind.EVENT: "Event",
    OfferKind.BUSINESS_REQUEST: "Demand",
    OfferKind.TECHNOLOGY_REQUEST: "Demand",
}


def offer_json_ld(offer: Offer, page_url: str) -> dict[str, Any] | None:
    """The offer as schema.org data; None for job-seeking ads (schema.org has no
    type for them, and they are no offers for search engines)."""
    kind = OfferKind(offer.kind)
    if kind is OfferKind.JOB_SEEKING:
        return None
    place = _place(offer)
    located = {"@type": "Place", "address": place} if place else None
    organisation = _organisation(offer)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": _TYPES.get(kind, "Offer"),
        "name" if kind is not OfferKind.JOB_OFFER else "title": offer.title,
        "description": offer.body_text[:5000],
        "url": page_url,
        "inLanguage": offer.language,
    }
    if kind is OfferKind.JOB_OFFER:
        data["datePosted"] = _date(offer.published_at)
        data["validThrough"] = _date(offer.valid_through)
        data["hiringOrganization"] = organisation
        data["jobLocation"] = located
    elif kind is OfferKind.EVENT:
        data["startDate"] = _date(offer.valid_through or offer.published_at)
        data["location"] = located
        data["organizer"] = organisation
    else:
        data["availableAtOrFrom"] = (
            {"@type": "Place", "address": place} if place else None
        )
        data["offeredBy" if data["@type"] == "Offer" else "seller"] = organisation
        data["validThrough"] = _date(offer.valid_through)
    if is_http_url(offer.url):
        data["sameAs"] = offer.url
    return {k: v for k, v in data.items() if v not in (None, "", {})}


def _organisation(offer: Offer) -> dict[str, Any] | None:
    org = offer.organisation
    if org is None:
        return None
    data = {"@type": "Organization", "name": org.name}
    if is_http_url(org.website):
        data["url"] = org.website
    return data


def _place(offer: Offer) -> dict[str, Any] | None:
    if not (offer.town or offer.country):
        return None
    address = {"@type": "PostalAddress"}
    if offer.town:
        address["addressLocality"] = offer.town
    if offer.country:
        address["addressCountry"] = offer.country
    return address


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
