"""The gazetteer: towns of the region with their names in several languages.

Pure: reads the packaged ``hub/data/places.yaml`` once; no database, no network.
``find_place`` is how search and filters treat Łoździeje, Lazdijai and Лаздияй as one.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from hub.text import fold
from hub.text import squash

PLACES_FILE = Path(__file__).parent / "data" / "places.yaml"
LANGUAGES = ("pl", "lt", "en", "ru", "be", "uk")


class PlacesError(ValueError):
    """The gazetteer file is malformed (a packaging bug, not user input)."""


@dataclasses.dataclass(frozen=True, eq=True)
class Place:
    key: str
    names: dict[str, str]
    country: str
    lat: float
    lon: float
    forms: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash(self.key)

    def name(self, language: str) -> str:
        """The name in ``language``, else English, else the first one given."""
        return (
            self.names.get(language)
            or self.names.get("en")
            or next(iter(self.names.values()))
        )

    def search_names(self) -> tuple[str, ...]:
        """Every name and form, unique, in file order: what a search expands to."""
        return tuple(dict.fromkeys([*self.names.values(), *self.forms]))


def find_place(name: str) -> Place | None:
    """The place called ``name`` in any language or form, folded; else None.

    ``find_place("lazdijai") is find_place("Łoździeje") is find_place("Лаздияй")``.
    """
    return _index().get(_key(name))


def list_places() -> tuple[Place, ...]:
    return _load()


def _key(name: str) -> str:
    # Hyphens and spaces are one separator (Бельск-Подляски = Bielsk Podlaski).
    return squash(fold(name).replace("-", " "))


@functools.cache
def _index() -> dict[str, Place]:
    index: dict[str, Place] = {}
    for place in _load():
        for name in (place.key, *place.search_names()):
            other = index.setdefault(_key(name), place)
            if other is not place:
                raise PlacesError(
                    f"{PLACES_FILE}: {name!r} names both {other.key} and {place.key}"
                )
    return index


@functools.cache
def _load(path: Path = PLACES_FILE) -> tuple[Place, ...]:
    entries = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise PlacesError(f"{path}: expected a list of places")
    return tuple(_place(path, i, entry) for i, entry in enumerate(entries))


def _place(path: Path, i: int, entry: Any) -> Place:
    try:
        names = {str(k): str(v) for k, v in entry["names"].items()}
        unknown = set(names) - set(LANGUAGES)
        if unknown or not names:
            raise PlacesError(f"{path}: [{i}].names: bad languages {sorted(unknown)}")
        return Place(
            key=str(entry["key"]),
            names=names,
            country=str(entry["country"]),
            lat=float(entry["lat"]),
            lon=float(entry["lon"]),
            forms=tuple(str(f) for f in entry.get("forms", ())),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        if isinstance(e, PlacesError):
            raise
        raise PlacesError(f"{path}: [{i}]: {e!r}") from e
