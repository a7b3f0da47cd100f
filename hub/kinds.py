"""Offer kinds and statuses: enums whose values are the stable strings of URLs, the API
and YAML. The kinds are the offer feed profile's own (feeds.profile), so the member kit
and the hub can never disagree on them."""

from __future__ import annotations

import enum

from feeds.profile import OfferKind

__all__ = ["OfferKind", "OfferStatus"]


class OfferStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
