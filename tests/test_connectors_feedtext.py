"""The shortcuts of connectors.feedtext against what they stand for: join against
feedparser's urljoin, RFC 822 dates against email.utils."""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import pytest

from connectors.feedtext import _URI_FIXER
from connectors.feedtext import NotSureError
from connectors.feedtext import join
from connectors.feedtext import parse_date

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
