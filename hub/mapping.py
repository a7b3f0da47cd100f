"""A source's mapping rules: ``defaults:`` for what its items do not say and
``rules:`` that give a kind by category, URL or title (first match wins).

The YAML models (validated at load, regexes compiled there) and their pure
application by hub.normalize. ``kind`` and ``kind_by_category`` are the short forms:
a default kind and one category rule per entry, after the ``rules:``.
No network, no database.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator

from hub.kinds import OfferKind
from hub.text import fold


def check_kind(value: str) -> str:
    """``value`` if it names an offer kind; else a ValueError listing them."""
    if value not in {k.value for k in OfferKind}:
        known = ", ".join(k.value for k in OfferKind)
        raise ValueError(f"unknown kind {value!r} (known: {known})")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    """``defaults:``: values for items that do not give their own."""

    kind: str | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    town: str | None = None
    categories: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        return None if value is None else check_kind(value)


class When(_Model):
    """The one condition of a rule: a category (case and accents ignored), or a
    regular expression searched in the item's URL or title (case ignored)."""

    category: str | None = None
    url: str | None = None
    title: str | None = None

    @model_validator(mode="after")
    def _one(self) -> When:
        given = [k for k in ("category", "url", "title") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'category', 'url' or 'title'")
        return self

    @field_validator("url", "title")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"bad regex {value!r}: {e}") from None
        return value


class Rule(_Model):
    """One ``rules:`` entry: ``{when: {...}, kind: ...}``."""

    when: When
    kind: str

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return check_kind(value)


_KINDS = frozenset(OfferKind)


def kind_of(
    options: Mapping[str, Any],
    declared: str | None,
    categories: Sequence[str],
    link: str | None,
    title: str,
) -> OfferKind:
    """The kind the document declares, else the first matching rule's, else the
    default (``defaults.kind``, ``kind``, ``business-offer``)."""
    if declared in _KINDS:
        return OfferKind(declared)
    rules = _rules(options)
    folded = {fold(c) for c in categories} if rules else set()
    for rule in rules:
        when, kind = rule["when"], rule["kind"]
        if "category" in when:
            if fold(when["category"]) in folded:
                return OfferKind(kind)
        elif "url" in when:
            if link and _regex(when["url"]).search(link):
                return OfferKind(kind)
        elif "title" in when and _regex(when["title"]).search(title):
            return OfferKind(kind)
    return OfferKind(default(options, "kind") or OfferKind.BUSINESS_OFFER)


def default(options: Mapping[str, Any], key: str) -> Any:
    """The source's default for ``key`` (``defaults:``, then the short top-level
    ``kind`` / ``language``), or None."""
    value = (options.get("defaults") or {}).get(key)
    if value is None and key in ("kind", "language"):
        value = options.get(key)
    return value


def _rules(options: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules = [
        {
            "when": {k: v for k, v in r["when"].items() if v is not None},
            "kind": r["kind"],
        }
        for r in options.get("rules") or ()
    ]
    rules += [
        {"when": {"category": category}, "kind": kind}
        for category, kind in (options.get("kind_by_category") or {}).items()
    ]
    return rules


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)
