"""``ecoop clusters try``: a dry run of a registry's sources before they go live.

Each source is fetched once through the harvester's own fetch, parse and normalise
stage (same guards, limits and network policy); nothing is claimed or written to the
index. The report says what the offers would look like: kinds, languages, towns
(through the gazetteer), fields left empty, warnings and errors.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import click

from connectors.base import Source
from hub.harvest import Harvester
from hub.logs import escape
from hub.normalize import OfferData
from hub.places import find_place
from hub.recording import Outcome

# Fields an operator expects an offer to have, and how to tell one is empty.
_FIELDS = {
    "url": lambda o: o.url,
    "published": lambda o: o.published_at,
    "valid_through": lambda o: o.valid_through,
    "body": lambda o: o.body_text,
    "language": lambda o: o.language,
    "town": lambda o: o.town,
    "organisation": lambda o: o.organisation,
    "categories": lambda o: o.categories,
}


@dataclasses.dataclass
class Trial:
    """What one source gave in a dry run."""

    source: Source
    items: int = 0
    profiles: int = 0  # company profiles (organisations, not offers)
    skipped: int = 0
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    languages: Counter[str] = dataclasses.field(default_factory=Counter)
    towns: Counter[str] = dataclasses.field(default_factory=Counter)
    unknown_towns: Counter[str] = dataclasses.field(default_factory=Counter)
    empty: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.items > 0 or self.profiles > 0)


def try_sources(harvester: Harvester, sources: Iterable[Source]) -> list[Trial]:
    """Dry-run ``sources`` on the harvester's pool; results in the given order."""
    sources = list(sources)
    with ThreadPoolExecutor(max_workers=max(1, harvester.pool_size)) as pool:
        return list(pool.map(lambda s: try_source(harvester, s), sources))


def try_source(harvester: Harvester, source: Source) -> Trial:
    outcome = harvester.try_source(source)
    try:
        return _trial(source, outcome)
    finally:
        outcome.close()


def _trial(source: Source, outcome: Outcome) -> Trial:
    trial = Trial(source)
    if outcome.error is not None:
        trial.error = f"{outcome.error.error_class}: {outcome.error}"
        return trial
    document = outcome.document
    if document is None:  # a first run always reads the body; kept for safety
        trial.error = "nothing read"
        return trial
    batches = list(outcome.batches())
    trial.skipped = document.skipped + sum(batch.failed for batch in batches)
    trial.warnings = document.warnings
    trial.profiles = sum(len(batch.profiles) for batch in batches)
    _describe(trial, [offer for batch in batches for offer in batch.offers])
    return trial


def _describe(trial: Trial, offers: list[OfferData]) -> None:
    trial.items = len(offers)
    for offer in offers:
        trial.kinds[offer.kind.value] += 1
        trial.languages[offer.language or "?"] += 1
        if offer.town:
            place = find_place(offer.town)
            if place is None:
                trial.unknown_towns[offer.town] += 1
            else:
                trial.towns[place.name("en")] += 1  # one name per place
    for name, value in _FIELDS.items():
        empty = sum(1 for offer in offers if not value(offer))
        if empty:
            trial.empty[name] = empty


def print_trials(trials: list[Trial]) -> None:
    """The report, one block per source; text from member sites is escaped."""
    for trial in trials:
        source = trial.source
        click.echo(f"{source.key}  ({source.type})  {escape(source.url)}")
        rows: list[tuple[str, str]] = []
        if trial.error is None:
            skipped = f" ({trial.skipped} skipped)" if trial.skipped else ""
            profiles = f", company profiles {trial.profiles}" if trial.profiles else ""
            rows.append(("items", f"{trial.items}{skipped}{profiles}"))
            rows.append(("kinds", _counts(trial.kinds)))
            rows.append(("languages", _counts(trial.languages)))
            towns = _counts(trial.towns)
            if trial.unknown_towns:
                towns += f"; not in the gazetteer: {_counts(trial.unknown_towns)}"
            rows.append(("towns", towns))
            rows.append(
                (
                    "empty",
                    ", ".join(
                        f"{name} in {count}/{trial.items}"
                        for name, count in trial.empty.items()
                    )
                    or "-",
                )
            )
        rows += [("warning", w) for w in trial.warnings]
        if trial.error is not None:
            rows.append(("error", trial.error))
        for label, text in rows:
            click.echo(f"  {label:<10} {escape(text) or '-'}")
        click.echo("")
    good = sum(1 for t in trials if t.ok)
    click.echo(
        f"{len(trials)} source(s): {good} gave items, {len(trials) - good} did not"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common())
