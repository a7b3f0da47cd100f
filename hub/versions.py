"""Language versions of one offer: one result per real offer, in the visitor's
language first.

A source groups the versions of an offer (the profile's ``group``; ``Offer.group_key``).
For each site language one version *stands for* the group: the version in that
language, else the English one, else the first seen. ``Offer.shown_in`` lists the
languages a version stands for (``"|pl|en|"``); listings and search keep the offers
shown in the visitor's language. Every version is searchable by the words of all of
them, so a Polish visitor typing a Lithuanian word finds the offer, in Polish.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import Offer
from hub.models import Organisation
from hub.normalize import searchable_text
from hub.registry import UI_LANGUAGES

ALL = "|" + "|".join(UI_LANGUAGES) + "|"
FALLBACK = "en"  # stands for a group in a language it has no version in


def shown_in(language: str) -> sa.ColumnElement[bool]:
    """The filter keeping one version per group: the one shown in ``language``."""
    return Offer.shown_in.contains(f"|{language}|", autoescape=True)


def one_per_offer() -> sa.ColumnElement[bool]:
    """The filter counting each real offer once, whatever its language versions:
    each group has exactly one version shown in any one language."""
    return shown_in(UI_LANGUAGES[0])


def regroup(db: Session, source_id: int, groups: Iterable[str]) -> None:
    """Recompute which version stands for each of ``groups`` of a source in each
    site language, and the shared search text of their versions."""
    keys = sorted(set(groups))
    if not keys:
        return
    rows = db.execute(
        sa.select(
            Offer.id,
            Offer.group_key,
            Offer.language,
            Offer.title,
            Organisation.name,
            Offer.town,
            Offer.categories,
            Offer.body_text,
        )
        .outerjoin(Organisation, Organisation.id == Offer.organisation_id)
        .where(Offer.source_id == source_id, Offer.group_key.in_(keys))
        .order_by(Offer.id)
    ).all()
    members: dict[str, list[sa.Row]] = {}  # type: ignore[type-arg]
    for row in rows:
        members.setdefault(row.group_key, []).append(row)
    for versions in members.values():
        text = " ".join(
            searchable_text(r.title, r.name, r.town, r.categories or (), r.body_text)
            for r in versions
        )
        stands_for: dict[int, list[str]] = {r.id: [] for r in versions}
        for language in UI_LANGUAGES:
            stands_for[_standing(versions, language)].append(language)
        for row in versions:
            languages = stands_for[row.id]
            db.execute(
                sa.update(Offer)
                .where(Offer.id == row.id)
                .values(
                    shown_in="|" + "|".join(languages) + "|" if languages else "|",
                    search_text=text,
                )
            )


def _standing(versions: list[sa.Row], language: str) -> int:  # type: ignore[type-arg]
    for wanted in (language, FALLBACK):
        for row in versions:
            if (row.language or "").split("-")[0].lower() == wanted:
                return int(row.id)
    return int(versions[0].id)
