"""The PL/LT/EN catalogs.

They are complete, compiled, and cover every string of the templates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from hub.registry import UI_LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "hub" / "translations"


def ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def pairs(catalog) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): tuple(m.string)
        if isinstance(m.string, (list, tuple))
        else (m.string,)
        for m in catalog
        if m.id
    }


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Extract the strings of the current code and templates afresh."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "Message",  # feeds.profile.Message: the validator's messages
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as f:
        return ids(read_po(f))


def test_the_template_is_up_to_date(extracted: set[str]) -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        assert ids(read_po(f)) == extracted, (
            "run: pybabel extract (see README, Translations)"
        )


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_every_string_is_translated_and_compiled(
    lang: str, extracted: set[str]
) -> None:
    messages = TRANSLATIONS / lang / "LC_MESSAGES"
    with (messages / "messages.po").open("rb") as f:
        po = read_po(f)
    untranslated = [
        m.id
        for m in po
        if m.id
        and (
            m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string])
        )
    ]
    assert untranslated == []
    misformatted = [(m.id, [str(e) for e in errors]) for m, errors in po.check()]
    assert misformatted == [], "a translation's placeholders differ from its msgid"
    assert extracted <= ids(po), f"missing in {lang}: {sorted(extracted - ids(po))}"
    with (messages / "messages.mo").open("rb") as f:
        mo = read_mo(f)
    assert pairs(mo) == pairs(po), "run: pybabel compile -d hub/translations"
