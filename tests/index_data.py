"""Offers written straight into a test app's index (hub.index.upsert_offers), for the
tests of the machine side (output feeds, API, sitemaps): data the tests choose, not
the sample sites', and rows normalisation would never write (a ``javascript:`` link).
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from hub import index
from hub.kinds import OfferKind
from hub.models import Offer
from hub.models import Source
from hub.normalize import OfferData
from hub.normalize import OrganisationData
from hub.registry import load
from hub.text import fold

NOW = datetime.now(UTC).replace(microsecond=0)
METAL = "metalklaster/offers"  # a PL cluster's source in the demo registry
WOOD = "medienospartneriai/offers"  # a LT cluster's source


def offer_data(guid: str, title: str, **fields: Any) -> OfferData:
    """An offer as the normaliser would hand it over; ``days_ago`` dates it."""
    published = NOW - timedelta(days=fields.pop("days_ago", 1))
    body = fields.pop("body", f"{title}.")
    organisation = fields.pop("organisation", None)
    values: dict[str, Any] = {
        "guid": guid,
        "kind": OfferKind(fields.pop("kind", "business-offer")),
        "title": title,
        "body_html": fields.pop("body_html", f"<p>{body}</p>"),
        "body_text": body,
        "language": "pl",
        "url": f"https://member.example/offers/{guid}",
        "categories": (),
        "published_at": published,
        "updated_at": None,
        "valid_through": None,
        "content_hash": hashlib.sha256(f"{guid}:{title}:{body}".encode()).hexdigest(),
        "search_text": fold(f"{title} {body}"),
        "organisation": OrganisationData(**organisation) if organisation else None,
    }
    values.update(fields)
    return OfferData(**values)


def add_offers(app: Flask, source_key: str, *offers: OfferData) -> dict[str, int]:
    """Write ``offers`` as harvested from ``source_key``; their ids by guid."""
    with app.extensions["ecoop.sessions"]() as db:
        index.sync_registry(db, load(Path(app.config["ECOOP_REGISTRY"])), NOW)
        source = db.scalar(sa.select(Source).where(Source.key == source_key))
        assert source is not None, source_key
        index.upsert_offers(db, source, offers, NOW)
        db.commit()
        rows = db.execute(
            sa.select(Offer.guid, Offer.id).where(
                Offer.source_id == source.id,
                Offer.guid.in_([o.guid for o in offers]),
            )
        )
        return dict(rows.all())
