"""HTML to the text search indexes and snippets show."""

from __future__ import annotations

from unicodedata import combining
from unicodedata import normalize

import pytest

from hub.text import _COMBINING
from hub.text import _MARKS
from hub.text import clean_html_to_text
from hub.text import fold
from hub.text import html_to_text
from hub.text import sanitize_html


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Obróbka CNC</p><p>Spawanie</p>", "Obróbka CNC Spawanie"),
        ("<div>Frezowanie</div><div>toczenie</div>", "Frezowanie toczenie"),
        ("a<br>b<br/>c", "a b c"),
        ("<ul><li>one</li><li>two</li></ul>", "one two"),
        ("Spół<b>ka</b> z o.o.", "Spółka z o.o."),  # inline tags join
        ("Tom &amp; Jerry &lt;3 &nbsp; x", "Tom & Jerry <3 x"),
        ("a < b > c", "a < b > c"),
        ('<a href="https://x.example/?a=1&amp;b=2" title="a>b">link</a>', "link"),
        ("<script>alert(1)</script>Offer<style>p{}</style>", "Offer"),
        ("<!-- hidden -->shown", "shown"),
        ("plain   text\n", "plain text"),
        ("", ""),
    ],
)
def test_html_to_text_keeps_visible_words_apart_and_whole(html: str, text: str) -> None:
    assert html_to_text(html) == text
    assert clean_html_to_text(sanitize_html(html)) == text  # a body's path


def test_fold_drops_every_combining_mark_and_only_those() -> None:
    assert fold("Łódź Spółka ąžuolo žaliuzės") == "lodz spolka azuolo zaliuzes"
    assert set(_MARKS) <= {m for m in map(chr, range(0x300, 0x370)) if combining(m)}
    for text in ("e\u0301\u0483x\u05b0", "ﬁ½ ﬀ", "i\u0307\u0345 \U0001d165", "ą" * 3):
        expected = _COMBINING.sub("", normalize("NFKD", text)).casefold()
        assert fold(text) == expected, text
