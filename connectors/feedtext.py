"""feedparser's reading of element names, attributes, text and dates, redone for the
fast reader of connectors.syndication with feedparser's own tables and HTML processor.

Each function gives exactly what feedparser (6.x, strict parser, no sanitiser) gives,
or raises NotSureError where it could not say so. Pure: no network.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from html.entities import name2codepoint
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

from feedparser.api import StrictFeedParser
from feedparser.urls import RelativeURIResolver
from feedparser.urls import resolve_relative_uris

from connectors.feeditems import dated

FP = StrictFeedParser  # its tables: namespaces, html_types, handler names...
_XML = "{http://www.w3.org/XML/1998/namespace}"
_KNOWN_NS = {uri.lower(): prefix.lower() for uri, prefix in FP.namespaces.items()}
_PREFIXES = set(_KNOWN_NS.values())
# Declaring one of these makes feedparser take the document for RSS 1.0/0.90.
_RDF_NS = {"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"}
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")  # feedparser's
# An absolute http(s) URL that urljoin gives back as it is, whatever the base: lower
# case scheme, plain host, no blank or control character (urlsplit drops them), no
# ";" in the path (urlparse splits it off as params), no empty query or fragment.
_WHOLE_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[^\x00-\x20?#;]*)?"
    r"(?:\?[^\x00-\x20#]+)?(?:#[^\x00-\x20]+)?"
)
_C1 = re.compile("[\x80-\x9f]")
_CP1252 = {c: bytes([c]).decode("cp1252", "ignore") for c in range(0x80, 0xA0)}
_CP1252 = {c: s for c, s in _CP1252.items() if s}  # feedparser.html._cp1252
# The markup of simple HTML: a bare tag, an entity, a character reference.
_MARKUP = re.compile(
    r"</?([a-z][a-z0-9]*+)>|&(?:([a-zA-Z][a-zA-Z0-9]*+)|#([0-9]{1,7}));"
)
_W3CDTF = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,6})?)?(?:Z|([+-])(\d\d):(\d\d))?)?"
)
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d\d):(\d\d)(?::(\d\d))? ([+-]\d\d[0-5]\d|GMT|UTC?|Z|[ECMP][SD]T)"
)
_MONTHS = {name: n for n, name in enumerate("Jan Feb Mar Apr May Jun".split(), 1)}
_MONTHS |= {name: n for n, name in enumerate("Jul Aug Sep Oct Nov Dec".split(), 7)}
_ZONES = {"GMT": 0, "UT": 0, "UTC": 0, "Z": 0, "EST": -500, "EDT": -400}  # email's
_ZONES |= {"CST": -600, "CDT": -500, "MST": -700, "MDT": -600, "PST": -800}
_ZONES |= {"PDT": -700}


class NotSureError(Exception):
    """Not read exactly as feedparser reads it; never leaves syndication.read."""


class Names:
    """feedparser's names for the elements of one document: ``local`` for RSS and
    Atom, ``prefix_local`` for a module (``dc_creator``) or another namespace (by
    the prefix it was declared with: feedparser's SAX parser sees no element's)."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}  # declared prefix (lower case) -> URI
        self.others: dict[str, str] = {}  # URI of no known module -> its prefix
        self.keys: dict[str, str] = {}

    def declare(self, prefix: str | None, uri: str) -> None:
        """A namespace declaration; refused where feedparser's prefix mapping would
        rename elements (a prefix bound twice, ``dc`` bound to another module, a
        namespace with two prefixes) or take the document for RSS 1.0."""
        prefix = prefix or ""
        name, low = prefix.lower(), _userland(uri.lower())
        known = _KNOWN_NS.get(low)
        if low in _RDF_NS or self.prefixes.setdefault(name, uri) != uri:
            raise NotSureError(uri)
        if known is None and self.others.setdefault(uri, prefix) != prefix:
            raise NotSureError(uri)
        if known is not None and name and name != known and name in _PREFIXES:
            raise NotSureError(uri)

    def key(self, el: Any) -> str:
        """feedparser's name for an element (lower case, like feedparser)."""
        tag = el.tag
        if (key := self.keys.get(tag)) is not None:
            return key
        if tag[0] != "{":
            key = tag.lower()
        else:
            uri, local = tag[1:].split("}")
            prefix = _KNOWN_NS.get(_userland(uri.lower()))
            if prefix is None:
                prefix = self.others[uri].lower()
            key = f"{prefix}_{local.lower()}" if prefix else local.lower()
        self.keys[tag] = key
        return key


def _userland(uri: str) -> str:
    """feedparser takes every backend.userland.com/rss namespace for RSS."""
    return (
        "http://backend.userland.com/rss" if "backend.userland.com/rss" in uri else uri
    )


@functools.cache
def has_handler(key: str) -> bool:
    """Does feedparser give the element named ``key`` a meaning of its own?"""
    return hasattr(FP, f"_start_{key}") or hasattr(FP, f"_end_{key}")


def finish(
    text: str,
    element: str,
    *,
    base: str,
    rss: bool,
    ctype: str | None = None,
    resolve: bool = False,
) -> str:
    """What feedparser's pop() makes of the text of ``element`` (its name for it):
    stripped, a URI resolved against ``base``, HTML of a text construct of type
    ``ctype`` re-serialised, UTF-8 read as Latin-1 and cp1252 controls repaired."""
    out = text.strip()
    if resolve and out:
        out = join(base, out)
    if ctype == "text/plain" and rss and _may_be_html(out) and FP.looks_like_html(out):
        ctype = "text/html"  # RSS leaves readers to guess
    if ctype in FP.html_types and element in FP.can_contain_relative_uris:
        if not plain_html(out):
            out = resolve_relative_uris(out, base, "utf-8", ctype)
    if not out.isascii():
        try:
            out = out.encode("iso-8859-1").decode("utf-8")
        except UnicodeError:
            pass
        if _C1.search(out):
            out = out.translate(_CP1252)
    return out


def _may_be_html(text: str) -> bool:
    """False where FP.looks_like_html is sure to be: it wants a close tag or a
    reference, and its two searches cost 1 us, even for a title without either."""
    return "<" in text or "&" in text


def plain_html(html: str) -> bool:
    """True when feedparser's HTML processor gives ``html`` back unchanged: text,
    bare tags that take an end tag, known entities, character references.

    Each ``<`` and ``&`` must start such markup; str.find goes from one to the next
    (a regex over the text between took 4x the time: 6.7 us on an offer's body)."""
    find = html.find
    lt, amp = find("<"), find("&")
    while lt >= 0 or amp >= 0:
        markup = _MARKUP.match(html, amp if lt < 0 or 0 <= amp < lt else lt)
        if markup is None or not _kept(*markup.groups()):
            return False
        end = markup.end()
        lt = find("<", end) if lt < end else lt
        amp = find("&", end) if amp < end else amp
    return True


def _kept(tag: str | None, name: str | None, number: str | None) -> bool:
    """Does feedparser's HTML processor give this tag or reference back as it is?"""
    if tag is not None:
        return tag not in RelativeURIResolver.elements_no_end_tag  # <br>: <br />
    if number is not None:  # not remapped from cp1252, nor turned into a quote
        return not (128 <= int(number) < 160 or int(number) in (34, 39))
    return name in name2codepoint or name == "apos"  # &bogus; -> &amp;bogus;


def join(base: str, uri: str) -> str:
    """``uri`` resolved against ``base`` as feedparser.urls._urljoin does; an
    absolute URL that comes back unchanged is not taken apart and put together
    again (urljoin's two parses were a sixth of the time to read an item)."""
    try:
        if _WHOLE_URL.fullmatch(uri):
            urlsplit(base)  # urljoin refuses a base it cannot split (ValueError)
            return uri
        return urljoin(base, _URI_FIXER.sub(r"\1\3", uri))
    except ValueError:
        return ""


def check_absolute(url: str) -> None:
    """Refuses a relative URL (feedparser would resolve it; this reader does not)."""
    if url and not _ABSOLUTE.match(url):
        raise NotSureError


def parse_date(value: str) -> datetime | None:
    """A date as feedparser reads it, W3C-DTF (ISO 8601) or RFC 822; ``dated``."""
    if not value:
        return None
    try:
        if match := _W3CDTF.fullmatch(value):
            year, month, day, hour, minute, second, sign, tzh, tzm = match.groups()
            try:
                clock = (int(hour or 0), int(minute or 0), int(second or 0))
                stamp = datetime(int(year), int(month), int(day), *clock)
            except ValueError:
                return None  # impossible: feeditems.dated refuses it on both paths
            offset = timedelta(hours=int(tzh or 0), minutes=int(tzm or 0))
            moment = stamp + offset if sign == "-" else stamp - offset
            moment = moment.replace(tzinfo=UTC)
        elif match := _RFC822.fullmatch(value):
            moment = _rfc822(*match.groups())
        else:
            raise NotSureError(value)  # feedparser tries a dozen more formats
    except (OverflowError, ValueError) as e:
        raise NotSureError(value) from e
    return dated(moment, value)


def _rfc822(
    day: str,
    month: str,
    year: str,
    hour: str,
    minute: str,
    second: str | None,
    zone: str,
) -> datetime:
    """The UTC time of a date _RFC822 matched, as email.utils.parsedate_to_datetime
    reads it ("-0000", an unknown zone, taken for UTC): parse_date took 16 us with
    it (it tells apart every form RFC 822 and its successors allow), 4.6 without."""
    years = int(year)
    if years < 100:  # "0026": a two-digit year, as email.utils takes it
        years += 1900 if years > 68 else 2000
    hhmm = _ZONES[zone] if zone in _ZONES else int(zone)
    hours, minutes = divmod(abs(hhmm), 100)
    if hours >= 24:  # (no datetime.timezone holds it: email.utils fails alike)
        raise ValueError(zone)
    offset = timedelta(hours=hours, minutes=minutes)
    clock = (int(hour), int(minute), int(second or 0))
    stamp = datetime(years, _MONTHS[month], int(day), *clock, tzinfo=UTC)
    return stamp + offset if hhmm < 0 else stamp - offset


def attributes(el: Any) -> dict[str, str]:
    """An element's attributes as feedparser names them (lower case, ``xml:lang``);
    refuses xml:base, ``base`` (feedparser takes it for xml:base) and namespaced
    attributes (feedparser would drop their namespace)."""
    out: dict[str, str] = {}
    for name, value in el.items():
        if name[0] == "{":
            if name not in (_XML + "lang", _XML + "space"):
                raise NotSureError(name)
            name = "xml:" + name[len(_XML) :]
        else:
            name = name.lower()
            if name == "base":
                raise NotSureError(name)
            if name in ("rel", "type"):
                value = value.lower()
        if name in out:
            raise NotSureError(name)
        out[name] = value
    return out


def lang(attrs: dict[str, str], inherited: str | None) -> str | None:
    """The language of an element: its own xml:lang (or lang), else its parent's;
    an empty one means none."""
    own = attrs.get("xml:lang", attrs.get("lang"))
    return inherited if own is None else own or None


def leaf_text(el: Any) -> str:
    """The text of an element that holds text only (no child element, comment, PI:
    feedparser would read those otherwise)."""
    if len(el):
        raise NotSureError(el.tag)
    return el.text or ""
