"""The gazetteer: one place whatever language or form names it."""

from __future__ import annotations

import pytest

from hub.places import LANGUAGES
from hub.places import find_place
from hub.places import list_places
from hub.text import fold

REQUIRED = [
    "Białystok", "Suwałki", "Augustów", "Ełk", "Łomża", "Olsztyn", "Sejny", "Gołdap",
    "Giżycko", "Vilnius", "Kaunas", "Alytus", "Marijampolė", "Druskininkai",
    "Lazdijai", "Kalvarija", "Hrodna", "Vawkavysk", "Lida", "Brest", "Kaliningrad",
    "Sovetsk", "Lviv",
]  # fmt: skip


@pytest.mark.parametrize("name", REQUIRED)
def test_the_region_s_towns_are_in_the_gazetteer(name: str) -> None:
    place = find_place(name)
    assert place is not None, name
    assert {"pl", "lt", "en", "ru", "be"} <= set(place.names), name
    assert place.country in {"PL", "LT", "BY", "RU", "UA"}
    assert 49 < place.lat < 56 and 19 < place.lon < 28, name


@pytest.mark.parametrize(
    ("names", "key"),
    [
        (["Łoździeje", "Lazdijai", "Лаздийи", "Лаздияй", "LAZDIJAI", "lozdzieje"],
         "lazdijai"),
        (["Druskienniki", "Druskininkai", "Друскининкай", "druskininkuose"],
         "druskininkai"),
        (["Wołkowysk", "Vawkavysk", "Волковыск", "Ваўкавыск", "wolkowysk"],
         "vawkavysk"),
        (["Grodno", "Hrodna", "Гродно", "Гродна", "Gardinas"], "hrodna"),
        (["Lwów", "Lviv", "Львів", "Львов", "Львоў", "lwow"], "lviv"),
        (["Wilno", "Vilnius", "Вільня", "Vilniuje"], "vilnius"),
        (["Bielsk Podlaski", "bielsk-podlaski", "  Bielsk   Podlaski "],
         "bielsk-podlaski"),
    ],
)  # fmt: skip
def test_find_place_is_blind_to_language_case_and_diacritics(
    names: list[str], key: str
) -> None:
    for name in names:
        place = find_place(name)
        assert place is not None and place.key == key, name


@pytest.mark.parametrize("name", ["", " ", "Łódź", "Paris", "-", "\x00", "a" * 500])
def test_unknown_names_are_none(name: str) -> None:
    assert find_place(name) is None


def test_every_name_points_to_one_place_only() -> None:
    seen: dict[str, str] = {}
    for place in list_places():
        assert set(place.names) <= set(LANGUAGES)
        for name in {fold(n) for n in (place.key, *place.search_names())}:
            assert seen.setdefault(name, place.key) == place.key, name


def test_place_names_per_language() -> None:
    place = find_place("Kaunas")
    assert place is not None
    assert (place.name("pl"), place.name("lt"), place.name("ru")) == (
        "Kowno",
        "Kaunas",
        "Каунас",
    )
    assert place.name("xx") == "Kaunas"
    assert hash(place) == hash(find_place("Kowno"))
