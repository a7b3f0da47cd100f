"""The shortcuts of connectors.feedtext against what they stand for: join against
feedparser's urljoin, RFC 822 dates against email.utils, plain_html against the
regex it once was."""

from __future__ import annotations

import random
import re
from datetime import UTC
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from urllib.parse import urljoin

import pytest
from feedparser.urls import RelativeURIResolver

from connectors.feedtext import _URI_FIXER
from connectors.feedtext import NotSureError
from connectors.feedtext import join
from connectors.feedtext import parse_date
from connectors.feedtext import plain_html

BASES = ["https://member.example/feed", "http://e.org/x/", "", "https://[::1/feed"]
URLS = [
    "https://e.org/a",
    "http://e.org/a?x=1&y=2#f",
    "https://e.org",
    "https://e.org?x=1",
    "https://e.org:8080/a/b/",
    "https://e.org/ą?ę=1",
    "https://e.org/%41",
    "HTTPS://E.org/A",
    "https://e.org/a?",
    "https://e.org/a#",
    "https://e.org/a;",
    "https://e.org/a;p?q#f",
    "https://e.org//a",
    "https:///e.org/a",
    "https:e.org/a",
    "https://[::1]/a",
    "https://[::1/a",
    "https://e.org/a b",
    "https://e.org/a\tb",
    "https://ex\u2100.org/a",
    "mailto:a@b.c",
    "/rel/a",
    "rel",
]


def slow_join(base: str, uri: str) -> str:
    """feedparser.urls._urljoin, as join stood before its shortcut."""
    try:
        return urljoin(base, _URI_FIXER.sub(r"\1\3", uri))
    except ValueError:
        return ""


@pytest.mark.parametrize("base", BASES)
def test_join_gives_what_urljoin_gives(base: str) -> None:
    for uri in URLS:
        assert join(base, uri) == slow_join(base, uri), uri


def email_date(value: str) -> object:
    """What parse_date read of an RFC 822 date with email.utils."""
    try:
        moment = parsedate_to_datetime(value)
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except (OverflowError, ValueError):
        return NotSureError


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 04 Nov 2026 10:00:00 GMT",
        "4 Nov 2026 10:00 +0130",
        "Wed, 04 Nov 2026 10:00:00 -0000",
        "Wed, 04 Nov 2026 10:00:00 -0830",
        "Wed, 04 Nov 2026 23:30:00 -2359",
        "Wed, 04 Nov 2026 10:00:00 +2400",
        "Wed, 04 Nov 2026 10:00 EST",
        "Wed, 04 Nov 2026 10:00 PDT",
        "Wed, 04 Nov 2026 10:00 UT",
        "Wed, 04 Nov 2026 10:00 Z",
        "04 Nov 0050 10:00:00 GMT",
        "04 Nov 0070 10:00:00 GMT",
        "Mon, 31 Nov 2026 10:00:00 +0000",
        "Wed, 04 Nov 2026 25:00:00 GMT",
        "31 Dec 9999 23:59:59 -2359",
        "Fri, 29 Feb 2024 12:00:00 +0100",
    ],
)
def test_rfc_822_dates_read_as_email_utils_reads_them(value: str) -> None:
    expected = email_date(value)
    if expected is NotSureError:
        with pytest.raises(NotSureError):
            parse_date(value)
    else:
        assert expected is not None and not isinstance(expected, type)
        moment = parse_date(value)
        if moment is not None:  # (feeditems.dated drops a year before 1990)
            assert moment == expected and moment.tzinfo is UTC


SIMPLE_HTML = re.compile(  # plain_html's language, as one regex
    r"(?:[^<&]++|</?[a-z][a-z0-9]*+>|&(?:[a-zA-Z][a-zA-Z0-9]*+|#[0-9]{1,7});)*+"
)


def slow_plain_html(html: str) -> bool:
    """plain_html as it stood before it went from markup to markup with str.find."""
    if not SIMPLE_HTML.fullmatch(html):
        return False
    void = RelativeURIResolver.elements_no_end_tag
    if any(tag in void for tag in re.findall(r"</?([a-z0-9]+)>", html)):
        return False
    for number, name in re.findall(r"&(#?)([a-zA-Z0-9]+);", html):
        if number and (128 <= int(name) < 160 or int(name) in (34, 39)):
            return False
        if not number and name not in name2codepoint and name != "apos":
            return False
    return True


def test_plain_html_accepts_what_feedparser_gives_back_unchanged() -> None:
    pieces = "<p>|</p>|<br>|<P>|<a href='x'>|<b1>|<1b>|< p>|<|>|&|;|&amp;|&amp|&bogus;"
    pieces += "|&apos;|&#39;|&#150;|&#0150;|&#12345678;|&#x41;|&#;|&nbsp;|&a1;|x|ż| |"
    choices = pieces.split("|")
    rng = random.Random(4)
    for _ in range(5000):
        html = "".join(rng.choice(choices) for _ in range(rng.randrange(6)))
        assert plain_html(html) == slow_plain_html(html), html
