"""Checks a feed against the profile: every problem with its location, line and a
fix hint. Pure: bytes in, a Report out; fetching is the caller's (CLI, hub page)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from feeds.profile import IDENTIFIER_SCHEMES
from feeds.profile import KINDS
from feeds.profile import SCHEME_ESCO_OCCUPATION
from feeds.profile import SCHEME_NACE
from feeds.profile import Category
from feeds.profile import Message
from feeds.profile import Notes
from feeds.profile import OfferKind
from feeds.profile import Problem
from feeds.profile import Severity
from feeds.profile import Where
from feeds.reader import FeedReadError
from feeds.reader import ParsedFeed
from feeds.reader import read

__all__ = ["Report", "validate"]

# NACE Rev. 2: a section letter, or a division, group or class code (25, 25.6, 25.62)
_NACE_TERM = re.compile(r"(?:[A-U]|\d\d(?:\.\d{1,2})?)\Z")


@dataclass(frozen=True)
class Report:
    """The problems of one document; ``ok`` when none is an error."""

    format: str  # "atom", "rss", "json" or "unknown" (not a feed at all)
    problems: tuple[Problem, ...] = ()
    offers: int = 0
    deleted: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (the CLI's ``--format json``)."""
        return {
            "ok": self.ok,
            "format": self.format,
            "offers": self.offers,
            "deleted": self.deleted,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [
                {
                    "severity": p.severity.value,
                    "location": p.location,
                    "line": p.line,
                    "message": p.message,
                    "hint": p.hint,
                }
                for p in self.problems
            ],
        }

    def to_text(self, source: str = "feed") -> str:
        """One line per problem (``source:line: severity: location: message``), its
        hint indented below, and a summary line."""
        lines = []
        for p in self.problems:
            at = f"{source}:{p.line}" if p.line else source
            lines.append(f"{at}: {p.severity.value}: {p.location}: {p.message}")
            if p.hint:
                lines.append(f"    fix: {p.hint}")
        counts = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        verdict = "valid" if self.ok else "NOT valid"
        what = f"{self.format}, {self.offers} offer(s), {self.deleted} withdrawn"
        lines.append(f"{source}: {verdict} ({what}; {counts})")
        return "\n".join(lines) + "\n"


def validate(data: bytes) -> Report:
    """Check a document (Atom, RSS 2.0 or JSON Feed) against the profile.

    Errors make the document unusable or wrong for the hub (not a feed, a missing
    id/title/link, an unknown kind, a bad date or country code, duplicate ids ...);
    warnings say what the hub will have to infer (no extension, no language, no
    completeness declaration, no organisation ...). PROFILE.md lists them all.
    """
    try:
        parsed = read(data)
    except FeedReadError as e:
        problem = Problem(Severity.ERROR, "document", e.text, e.advice, e.line)
        return Report("unknown", (problem,))
    notes = Notes()
    _check_feed(parsed, notes)
    _check_offers(parsed, notes)
    # no warning where the reader found fault already ("no kind" after a bad kind)
    seen = {p.location for p in parsed.problems}
    problems = parsed.problems + [
        p
        for p in notes.problems
        if p.severity == Severity.ERROR or p.location not in seen
    ]
    problems.sort(key=lambda p: p.line or 0)  # stable: JSON keeps document order
    return Report(
        parsed.format, tuple(problems), len(parsed.offers), len(parsed.deleted)
    )


def _check_feed(parsed: ParsedFeed, notes: Notes) -> None:
    info, json = parsed.info, parsed.format == "json"

    def at(key: str) -> Where:
        return parsed.where(None, key)

    if not parsed.extension:
        hint = Message(
            "the hub will infer kind, organisation and location; PROFILE.md shows "
            "how to state them"
        )
        where = at("_ecoop" if json else "")
        notes.warn(where, Message("no e-cooperation extension (a plain feed)"), hint)
    if not parsed.completeness_declared:
        hint = Message(
            "declare <eco:complete>true</eco:complete> if the feed lists every "
            "live offer (a missing one is then withdrawn), false if not"
        )
        if json:
            hint = Message('add "_ecoop": {"complete": true} (or false)')
        message = Message("no completeness declaration")
        notes.warn(at("_ecoop.complete"), message, hint)
    if info.complete and info.archive:
        hint = Message(
            "an RFC 5005 archive document is a fixed page of history: drop one"
        )
        message = Message("an archive document is not complete")
        notes.error(at("_ecoop.archive"), message, hint)
    if not info.link and parsed.format != "rss":
        hint = Message("link the site's list of offers")
        notes.warn(at("home_page_url"), Message("no link to the site"), hint)
    if unlabelled := [o for o in parsed.offers if not o.language]:
        hint = Message("set xml:lang on the feed or entries (pl, lt, en ...)")
        if json:
            hint = Message('add "language": "pl" to the feed or the items')
        message = Message(
            "no language for %(count)d offer(s); the hub will guess it",
            count=len(unlabelled),
        )
        notes.warn(at("language"), message, hint)
    live = {o.id for o in parsed.offers}
    for j, tomb in enumerate(parsed.deleted):
        if tomb.ref in live:
            hint = Message(
                "drop the entry or the tombstone: an offer is live or withdrawn"
            )
            message = Message("%(id)r is both listed and withdrawn", id=tomb.ref)
            notes.error(at(f"_ecoop.deleted[{j}].ref"), message, hint)


def _check_offers(parsed: ParsedFeed, notes: Notes) -> None:
    first: dict[str, str] = {}
    for k, offer in enumerate(parsed.offers):

        def at(key: str, k: int = k) -> Where:
            return parsed.where(k, key)

        if offer.id in first:
            message = Message(
                "duplicate id %(id)r (first in %(first)s)",
                id=offer.id,
                first=first[offer.id],
            )
            notes.error(at("id"), message, Message("every offer needs its own id"))
        first.setdefault(offer.id, at("")[0])
        valid, published = offer.valid_through, offer.published
        if valid and published and valid < published:
            hint = Message(
                "valid-through is when the offer ends: after it was published"
            )
            message = Message("valid-through is before published")
            notes.error(at("_ecoop.valid_through"), message, hint)
        if offer.kind == OfferKind.JOB_OFFER and not valid:
            hint = Message(
                "job offers should end; the hub hides an offer once it has expired"
            )
            message = Message("job offer without valid-through")
            notes.warn(at("_ecoop.valid_through"), message, hint)
        if parsed.extension and offer.kind is None and not offer.is_company_profile:
            hint = Message(
                "one of %(kinds)s; or, for a company profile, an eco:organisation "
                "with eco:capabilities",
                kinds=", ".join(sorted(KINDS)),
            )
            notes.warn(at("_ecoop.kind"), Message("no kind"), hint)
        org = offer.organisation
        if offer.kind not in (None, OfferKind.JOB_SEEKING) and org is None:
            hint = Message("name the organisation (name, country, town, identifier)")
            notes.warn(at("_ecoop.organisation"), Message("no organisation"), hint)
        for scheme in org.identifiers if org else ():
            if scheme not in IDENTIFIER_SCHEMES:
                hint = Message(
                    "known schemes: %(schemes)s",
                    schemes=", ".join(sorted(IDENTIFIER_SCHEMES)),
                )
                message = Message("unknown identifier scheme %(scheme)r", scheme=scheme)
                notes.warn(
                    at(f"_ecoop.organisation.identifiers.{scheme}"), message, hint
                )
        for j, cat in enumerate(offer.categories):
            _check_category(cat, at(f"_ecoop.categories[{j}]"), notes)
        nace = any(c.scheme == SCHEME_NACE for c in offer.categories)
        if offer.is_company_profile and not nace:
            hint = Message(
                'add <category scheme="%(scheme)s" term="25.62"/>', scheme=SCHEME_NACE
            )
            message = Message("company profile without a NACE sector")
            notes.warn(at("_ecoop.categories"), message, hint)


def _check_category(cat: Category, where: Where, notes: Notes) -> None:
    if cat.scheme == SCHEME_NACE and not _NACE_TERM.match(cat.term):
        hint = Message(
            "a NACE Rev. 2 code such as 25.62 (or a section letter such as C)"
        )
        notes.warn(where, Message("%(term)r is not a NACE code", term=cat.term), hint)
    esco = SCHEME_ESCO_OCCUPATION + "/"
    if cat.scheme == SCHEME_ESCO_OCCUPATION and not cat.term.startswith(esco):
        hint = Message("the occupation's URI, %(prefix)s<uuid>", prefix=esco)
        message = Message("%(term)r is not an ESCO occupation URI", term=cat.term)
        notes.warn(where, message, hint)
