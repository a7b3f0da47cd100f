"""Offer kinds.

An Enum whose values are the stable strings of URLs, the API and YAML.
"""

from __future__ import annotations

import enum


class OfferKind(enum.StrEnum):
    BUSINESS_OFFER = "business-offer"
    BUSINESS_REQUEST = "business-request"
    TECHNOLOGY_OFFER = "technology-offer"
    TECHNOLOGY_REQUEST = "technology-request"
    JOB_OFFER = "job-offer"
    JOB_SEEKING = "job-seeking"
    EVENT = "event"


class OfferStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
