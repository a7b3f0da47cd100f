"""The organisations behind offers and company profiles: matched by folded name and
country, created or completed with what the items tell, a batch at a time.

A first harvest of a member publishing the offer feed profile names an organisation
in every offer; resolving them one by one (a SELECT, then a flush) was two thirds
of the writer's time (bench/harvest.py --profile). Here a batch costs one SELECT per
500 names, one INSERT for the new organisations and one UPDATE per organisation
whose facts changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import Organisation
from hub.normalize import OrganisationData
from hub.text import fold

Key = tuple[str, str]  # (folded name, country)

_CHUNK = 500  # names per SELECT: under any backend's bound-parameter limit


def key(data: OrganisationData, country: str) -> Key:
    """Who ``data`` is: its folded name and its country, else ``country`` (the
    cluster's)."""
    return fold(data.name), data.country or country


@dataclasses.dataclass
class _Told:
    """What a batch's items tell of one organisation, later items over earlier."""

    name: str
    town: str | None = None
    website: str | None = None
    identifiers: dict[str, str] = dataclasses.field(default_factory=dict)

    def add(self, data: OrganisationData) -> None:
        self.town = data.town or self.town
        self.website = data.website or self.website
        self.identifiers.update(data.identifiers)


def resolve(
    db: Session, organisations: Iterable[OrganisationData], country: str
) -> dict[Key, int]:
    """The id of each organisation (see :func:`key`), created if new; a known one
    takes the town and website the items give (those it had otherwise) and the
    identifiers they add. Items name the same organisation in any number."""
    told: dict[Key, _Told] = {}
    for data in organisations:
        k = key(data, country)
        if (entry := told.get(k)) is None:
            entry = told[k] = _Told(data.name)
        entry.add(data)
    ids: dict[Key, int] = {}
    for row in _rows(db, told):
        ids[row.name_key, row.country] = row.id
        entry = told[row.name_key, row.country]
        changed = _changes(row, entry)
        if changed:
            db.execute(
                sa.update(Organisation)
                .where(Organisation.id == row.id)
                .values(**changed)
            )
    new = [
        {
            "name": entry.name,
            "name_key": k[0],
            "country": k[1],
            "town": entry.town,
            "website": entry.website,
            "identifiers": entry.identifiers,
        }
        for k, entry in told.items()
        if k not in ids
    ]
    if new:
        returned = db.execute(
            sa.insert(Organisation).returning(
                Organisation.id, Organisation.name_key, Organisation.country
            ),
            new,
        )
        ids.update(((row.name_key, row.country), row.id) for row in returned)
    return ids


def _rows(db: Session, told: dict[Key, _Told]) -> Iterator[Any]:
    """The known organisations among ``told``."""
    names = sorted({k[0] for k in told})
    for start in range(0, len(names), _CHUNK):
        query = sa.select(
            Organisation.id,
            Organisation.name_key,
            Organisation.country,
            Organisation.town,
            Organisation.website,
            Organisation.identifiers,
        ).where(Organisation.name_key.in_(names[start : start + _CHUNK]))
        yield from (
            row for row in db.execute(query) if (row.name_key, row.country) in told
        )


def _changes(row: sa.Row[Any], entry: _Told) -> dict[str, Any]:
    """The columns of ``row`` that ``entry`` changes, with their new values."""
    values = {
        "town": entry.town or row.town,
        "website": entry.website or row.website,
        "identifiers": {**(row.identifiers or {}), **entry.identifiers},
    }
    return {
        name: value for name, value in values.items() if value != getattr(row, name)
    }
