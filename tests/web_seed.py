"""Offers written straight into a test app's index (the harvest's own normalise and
upsert functions), so page tests know every offer they count. Plain functions."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from flask import Flask
from ruamel.yaml import YAML

from connectors.base import RawItem
from feeds.profile import Location
from feeds.profile import Organisation
from hub import index
from hub import registry
from hub.models import Source
from hub.normalize import to_offer
from hub.normalize import to_profile
from hub.scheduler import utcnow

CLASSIFICATIONS = (
    Path(__file__).resolve().parent.parent / "hub/data/classifications.yaml"
)


def esco() -> dict[str, dict[str, str]]:
    """The hub's ESCO occupation labels: URI -> {language: label}."""
    data = YAML(typ="safe").load(CLASSIFICATIONS.read_text(encoding="utf-8"))
    return {str(uri): dict(labels) for uri, labels in data["esco"].items()}


def sync(app: Flask) -> list[Source]:
    """The app's registry in its index; its active sources, one per cluster first."""
    with app.extensions["ecoop.sessions"]() as db:
        index.sync_registry(db, registry.load(app.config["ECOOP_REGISTRY"]), utcnow())
        sources = index.list_sources(db)
        by_cluster: dict[int, Source] = {}
        for source in sources:
            by_cluster.setdefault(source.cluster_id, source)
        first = list(by_cluster.values())
        db.expunge_all()
    return first + [s for s in sources if s not in first]


def item(
    guid: str,
    title: str,
    *,
    kind: str = "business-offer",
    days_ago: float = 1,
    language: str = "pl",
    org: str | None = None,
    org_country: str | None = None,
    town: str | None = None,
    country: str | None = None,
    occupations: tuple[str, ...] = (),
    sectors: tuple[str, ...] = (),
    valid_days: float | None = None,
) -> RawItem:
    now = datetime.now(UTC)
    return RawItem(
        guid=guid,
        link=f"https://member.example/{guid}",
        title=title,
        content=f"<p>{title}</p>",
        published=now - timedelta(days=days_ago),
        valid_through=now + timedelta(days=valid_days) if valid_days else None,
        language=language,
        kind=kind,
        organisation=Organisation(org, country=org_country) if org else None,
        location=Location(country=country, town=town) if (town or country) else None,
        occupations=occupations,
        sectors=sectors,
    )


def seed(app: Flask, source: Source, items: list[RawItem]) -> None:
    """Normalise and upsert ``items`` as offers of ``source``."""
    now = datetime.now(UTC)
    loaded = registry.load(app.config["ECOOP_REGISTRY"])
    spec = next(s for s in loaded.sources if s.key == source.key)
    with app.extensions["ecoop.sessions"]() as db:
        row = db.get(Source, source.id)
        assert row is not None
        offers = [to_offer(spec, i.guid or i.title, i, now) for i in items]
        index.upsert_offers(db, row, offers, now)
        db.commit()


def seed_profile(app: Flask, source: Source, profile: RawItem) -> None:
    """Write a company profile (an item with an organisation and capabilities)."""
    loaded = registry.load(app.config["ECOOP_REGISTRY"])
    spec = next(s for s in loaded.sources if s.key == source.key)
    with app.extensions["ecoop.sessions"]() as db:
        row = db.get(Source, source.id)
        assert row is not None
        data = to_profile(spec, profile.guid or profile.title, profile)
        index.upsert_profiles(db, row, [data], datetime.now(UTC))
        db.commit()
