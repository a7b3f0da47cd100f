"""The offer feed profile as code: namespaces, kinds, dataclasses and value rules.
Pure: no I/O, no XML, no clock. PROFILE.md is the normative text; this follows it.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from functools import partial
from typing import Any

ATOM_NS = "http://www.w3.org/2005/Atom"
ECO_NS = "https://e-cooperation.eu/ns/offer/1.0"
TOMBSTONE_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {"atom": ATOM_NS, "eco": ECO_NS, "at": TOMBSTONE_NS, "fh": HISTORY_NS}

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
JSON_EXTENSION = "_ecoop"  # JSON Feed 1.1: extension keys start with "_"
PROFILE_VERSION = "1.0"

SCHEME_NACE = "https://e-cooperation.eu/ns/nace"
SCHEME_ESCO_OCCUPATION = "http://data.europa.eu/esco/occupation"
IDENTIFIER_SCHEMES = frozenset({"vat", "krs", "nip", "regon", "jar", "lei", "duns"})


class OfferKind(enum.StrEnum):
    """Kinds of offer; the values are the stable strings of the profile and the hub."""

    BUSINESS_OFFER = "business-offer"
    BUSINESS_REQUEST = "business-request"
    TECHNOLOGY_OFFER = "technology-offer"
    TECHNOLOGY_REQUEST = "technology-request"
    JOB_OFFER = "job-offer"
    JOB_SEEKING = "job-seeking"
    EVENT = "event"


KINDS = frozenset(k.value for k in OfferKind)

# ISO 3166-1 alpha-2, officially assigned codes, plus XK (Kosovo, used by the EU).
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
    BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY
    CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI
    GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE
    JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD
    ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO
    NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC
    SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN
    TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
    """.split()
)

_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.(\d+))?(?:[Zz]|[+-]\d\d:\d\d)\Z"
)
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")  # BCP 47, loosely
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")  # RFC 3987 scheme ":" ...


class FeedProfileError(Exception):
    """Root of every error raised by the feeds package."""


class FeedValueError(FeedProfileError, ValueError):
    """A value given to the writer does not fit the profile."""


class Message:
    """A message for a feed's author: an English template and its values.

    ``str()`` gives the English text (the CLI, the JSON report). The template is a
    gettext msgid (``Message`` is a keyword of the hub's message extraction), so a
    site can show it in its visitor's language with the same values: :meth:`render`.
    """

    __slots__ = ("template", "values")

    def __init__(self, template: str, /, **values: object) -> None:
        self.template, self.values = template, values

    def render(self, gettext: Callable[[str], str] = str) -> str:
        """The message in the language ``gettext`` translates to (English: none)."""
        text = gettext(self.template)
        return text % self.values if self.values else text

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.template, self.values) == (other.template, other.values)

    def __hash__(self) -> int:
        return hash(self.template)


class _Explained:
    """``message`` and ``hint`` in English, from ``text`` and ``advice``."""

    text: Message
    advice: Message | None

    @property
    def message(self) -> str:
        return str(self.text)

    @property
    def hint(self) -> str:
        return str(self.advice or "")


class FeedReadError(_Explained, FeedProfileError):
    """The document is not a feed at all (see reader.read for the cases)."""

    def __init__(
        self, text: Message, advice: Message | None = None, line: int | None = None
    ) -> None:
        super().__init__(str(text))
        self.text, self.advice, self.line = text, advice, line


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


Where = tuple[str, int | None]  # a location and its XML line, if known


@dataclass(frozen=True)
class Problem(_Explained):
    """One finding: ``location`` like ``entry[3] <eco:kind>`` (XML, 1-based as in
    XPath) or ``items[2]._ecoop.kind`` (JSON, 0-based); ``line`` in XML only."""

    severity: Severity
    location: str
    text: Message
    advice: Message | None = None  # how to fix it
    line: int | None = None


@dataclass(frozen=True)
class Organisation:
    """Who offers or asks; with ``capabilities`` it describes a company profile."""

    name: str
    country: str | None = None
    town: str | None = None
    website: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)  # scheme -> value
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location:
    """Where the offer applies: place of work, of delivery, of the event."""

    country: str | None = None
    town: str | None = None
    postal_code: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Category:
    """A term in a scheme (NACE, ESCO, the site's own); no scheme is a free tag."""

    term: str
    scheme: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Offer:
    """One offer, or a company profile (no kind, organisation with capabilities).

    ``link`` is the offer's page in its own ``language``; ``alternates`` maps the
    language tags of its other language versions to their pages.
    """

    id: str
    title: str
    link: str
    kind: OfferKind | None = None
    language: str | None = None
    summary: str | None = None
    content_html: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    valid_through: datetime | None = None
    organisation: Organisation | None = None
    location: Location | None = None
    categories: tuple[Category, ...] = ()
    contact: Contact | None = None
    group: str | None = None
    alternates: dict[str, str] = field(default_factory=dict)

    @property
    def is_company_profile(self) -> bool:
        org = self.organisation
        return self.kind is None and org is not None and bool(org.capabilities)


@dataclass(frozen=True)
class Deleted:
    """A withdrawn offer (RFC 6721 tombstone): its id and when it was withdrawn."""

    ref: str
    when: datetime


@dataclass(frozen=True)
class FeedInfo:
    """Feed-level data. ``complete``: this document, with the pages reached through
    ``next_url``, lists every live offer, so a missing offer has been withdrawn."""

    title: str
    link: str
    id: str
    language: str | None = None
    complete: bool = False
    next_url: str | None = None
    self_url: str | None = None
    prev_archive_url: str | None = None
    archive: bool = False
    subtitle: str | None = None
    author: str | None = None
    updated: datetime | None = None


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 date-time (RFC 4287 §3.3) as an aware datetime.

    Raises:
        ValueError: not RFC 3339 (a date alone, no offset, out of range ...).
    """
    match = _RFC3339.match(text := text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    if (fraction := match.group(1)) and len(fraction) > 6:  # Python keeps µs
        text = text.replace("." + fraction, "." + fraction[:6], 1)
    return datetime.fromisoformat(text.upper())


def format_datetime(value: datetime) -> str:
    """RFC 3339 text of an aware datetime; UTC is written ``Z``.

    Raises:
        FeedValueError: the datetime is naive.
    """
    offset = value.utcoffset()
    if offset is None:
        raise FeedValueError(f"naive datetime {value.isoformat()}: give a timezone")
    if offset % timedelta(minutes=1):  # RFC 3339 offsets have no seconds
        return (value - offset).replace(tzinfo=None).isoformat() + "Z"
    text = value.isoformat()
    return text[:-6] + "Z" if offset == timedelta(0) else text


def is_country(code: str) -> bool:
    return code in COUNTRIES


def is_language_tag(tag: str) -> bool:
    return bool(_LANGUAGE_TAG.match(tag))


def is_absolute_iri(value: str) -> bool:
    return bool(_ABSOLUTE_IRI.match(value))


# --- extension fields from a mapping: JSON `_ecoop`, eco XML, a writer's dict ---

Spec = str | dict[str, "Spec"] | list["Spec"]
At = Callable[[str], Where]  # dotted key ("organisation.country") -> Where
Place = Where | Callable[[], Where]  # a Where, or how to find it when a problem arises
_ORGANISATION: dict[str, Spec] = {"name": "text", "country": "country", "town": "text"}
_ORGANISATION |= {"website": "url", "identifiers": {"*": "text"}}
_ORGANISATION |= {"capabilities": ["text"]}
_LOCATION: dict[str, Spec] = {"country": "country", "town": "text"}
_LOCATION |= {"postal_code": "text", "lat": "lat", "lon": "lon"}
EXTENSION: dict[str, Spec] = {"kind": "kind", "group": "text", "valid_through": "date"}
EXTENSION |= {"organisation": _ORGANISATION, "location": _LOCATION}
EXTENSION |= {"contact": {"name": "text", "email": "email", "phone": "text"}}
EXTENSION |= {"categories": [{"term": "text", "scheme": "text", "label": "text"}]}
EXTENSION |= {"alternates": {"*": "url"}}


def read_extension(data: Mapping[str, Any], at: At, notes: Notes) -> dict[str, Any]:
    """Offer keyword arguments from the extension fields in ``data`` (EXTENSION
    says which); each problem goes to ``notes`` and its field is left out."""
    v = notes.walk(data, EXTENSION, "", at) or {}
    out = {k: v[k] for k in ("kind", "group", "valid_through") if k in v}
    if (org := v.get("organisation")) is not None and org.get("name"):
        caps = tuple(org.pop("capabilities", ()))
        out["organisation"] = Organisation(**org, capabilities=caps)
    elif org is not None:
        notes.error(
            at("organisation.name"),
            Message("organisation without a name"),
            Message("add the organisation's name"),
        )
    if loc := v.get("location"):  # (an empty one is left out)
        out["location"] = Location(**loc)
    if contact := v.get("contact"):
        out["contact"] = Contact(**contact)
    for i, cat in enumerate(cats := v.get("categories", ())):
        if "term" not in cat:
            hint = Message("the term is the category's code or word")
            where = at(f"categories[{i}].term")
            notes.error(where, Message("category without a term"), hint)
    out["categories"] = tuple(Category(**c) for c in cats if "term" in c)
    for lang in (alternates := v.get("alternates", {})):
        notes.language(lang, at(f"alternates.{lang}"))
    out["alternates"] = alternates
    return out


class Notes:
    """Collects problems while a document is read; ``walk`` checks a value against
    a Spec and returns what is usable, leaving out what is not."""

    def __init__(self, name: Callable[[str], str | None] = str) -> None:
        self.problems: list[Problem] = []
        self.name = name  # how the format spells a field (None: no such field)

    def error(self, where: Place, text: Message, advice: Message | None = None) -> None:
        self._add(Severity.ERROR, where, text, advice)

    def warn(self, where: Place, text: Message, advice: Message | None = None) -> None:
        self._add(Severity.WARNING, where, text, advice)

    def _add(
        self, severity: Severity, where: Place, text: Message, advice: Message | None
    ) -> None:
        location, line = where() if callable(where) else where
        self.problems.append(Problem(severity, location, text, advice, line))

    def walk(self, value: object, spec: Spec, key: str, at: At) -> Any:
        """``value`` checked against ``spec``; None if unusable (and noted)."""
        if value is None:
            return None
        if isinstance(spec, str):
            return self.scalar(value, spec, partial(at, key))  # located when needed
        if isinstance(spec, dict) and isinstance(value, Mapping):
            out = {}
            for k, item in value.items():
                sub, path = spec.get(k, spec.get("*")), f"{key}.{k}".lstrip(".")
                if sub is None:
                    known = [n for f in spec if f != "*" and (n := self.name(f))]
                    name = self.name(str(k)) or str(k)
                    message = (
                        Message("unknown field %(name)r", name=name)
                        if self.name is str
                        else Message("unknown element %(name)r", name=name)
                    )
                    self.warn(at(path), message, _one_of(name, known))
                elif (got := self.walk(item, sub, path, at)) is not None:
                    out[str(k)] = got
            return out
        if isinstance(spec, list) and isinstance(value, list | tuple):
            got = (
                self.walk(x, spec[0], f"{key}[{i}]", at) for i, x in enumerate(value)
            )
            return [x for x in got if x is not None]
        got = type(value).__name__
        self.error(
            at(key),
            Message("expected an object, got %(got)s", got=got)
            if isinstance(spec, dict)
            else Message("expected a list, got %(got)s", got=got),
        )
        return None

    def scalar(self, value: object, spec: str, where: Place) -> Any:
        if spec in ("lat", "lon"):
            return self.number(value, 90 if spec == "lat" else 180, where)
        typed = {"bool": bool, "date": datetime}.get(spec)
        if typed is not None and isinstance(value, typed):
            return value  # a datetime passes as a date (a writer's dict)
        if spec == "bool":
            hint = Message("JSON true or false, not a string")
            self.error(
                where, Message("expected true or false, got %(got)r", got=value), hint
            )
            return None
        if not isinstance(value, str):
            self.error(where, Message("expected a string, got %(got)r", got=value))
            return None
        if not (text := value.strip()):
            return None
        if spec == "kind" and text not in KINDS:
            message = Message("unknown kind %(kind)r", kind=text)
            self.error(where, message, _one_of(text, KINDS))
            return None
        if spec == "date":
            try:
                return parse_datetime(text)
            except ValueError:
                hint = Message(
                    "RFC 3339 with an offset, e.g. 2026-11-25T09:50:00+01:00"
                )
                self.error(where, Message("bad date %(date)r", date=text), hint)
                return None
        if spec == "country" and not is_country(text):
            hint = Message("an ISO 3166-1 alpha-2 code in capitals, e.g. PL, LT")
            if is_country(text.upper()):
                hint = Message("write it in capitals: %(code)r", code=text.upper())
            self.error(where, Message("bad country code %(code)r", code=text), hint)
        if spec == "url" and not re.match(r"https?://", text):
            hint = Message(
                "write the whole URL, e.g. https://your-site.example/offers/17"
            )
            message = Message("%(url)r is not an absolute http(s) URL", url=text)
            self.warn(where, message, hint)
        if spec == "email" and "@" not in text:
            message = Message("%(email)r is not an e-mail address", email=text)
            self.warn(where, message, Message("name@domain"))
        return OfferKind(text) if spec == "kind" else text

    def language(self, value: str | None, where: Place) -> str | None:
        if value is not None and not is_language_tag(value):
            message = Message("%(tag)r is not a language tag", tag=value)
            self.warn(where, message, Message("e.g. pl, lt, en"))
        return value

    def number(self, value: object, limit: float, where: Place) -> float | None:
        number = math.nan
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except ValueError:
                pass
        if -limit <= number <= limit:
            return number
        hint = Message(
            "a decimal number from -%(limit)g to %(limit)g, e.g. 54.1", limit=limit
        )
        self.error(where, Message("bad coordinate %(value)r", value=value), hint)
        return None


def _one_of(value: str, known: Iterable[str]) -> Message:
    choices = sorted(known)
    listed = ", ".join(choices)
    if close := difflib.get_close_matches(value, choices, n=1):
        return Message(
            "did you mean %(guess)r? expected one of: %(choices)s",
            guess=close[0],
            choices=listed,
        )
    return Message("expected one of: %(choices)s", choices=listed)
