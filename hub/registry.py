"""clusters.yaml -> a validated, frozen Registry of clusters and their sources.

Every error names file, line and field. Pure: reads one file, no network, no database.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator

import connectors
from connectors.base import MAX_PAGES
from connectors.base import Source
from hub._registry_yaml import RegistryError
from hub._registry_yaml import extend
from hub._registry_yaml import field_path
from hub._registry_yaml import interpolate
from hub._registry_yaml import line_of
from hub._registry_yaml import message
from hub._registry_yaml import read_document
from hub.mapping import Defaults
from hub.mapping import Rule
from hub.mapping import check_kind as _check_kind

__all__ = [
    "ClusterSpec",
    "Registry",
    "RegistryError",
    "SourceSpec",
    "Watcher",
    "load",
    "parse_interval",
]

log = logging.getLogger(__name__)

UI_LANGUAGES = ("pl", "lt", "en")
MIN_INTERVAL = timedelta(minutes=1)
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_interval(value: str | int) -> timedelta:
    """Parse a duration into a timedelta.

    ``"90s"``, ``"30m"``, ``"6h"``, ``"1d"`` (or a number of minutes) -> timedelta.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 6h or 1d")
    if isinstance(value, int):
        interval = timedelta(minutes=value)
    else:
        match = _INTERVAL.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30m, 6h or 1d")
        interval = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if interval < MIN_INTERVAL:
        raise ValueError(f"{value!r} is shorter than the minimum of 1m")
    return interval


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Model):
    """One ``sources:`` entry.

    Keys beyond these belong to the source's connector: its ``options_model``
    (a pydantic model) validates them, see ``_connector_options``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = Field(default=None, pattern=_SLUG)
    type: str
    url: str
    interval: timedelta = timedelta(hours=1)
    kind: str | None = None
    kind_by_category: dict[str, str] = Field(default_factory=dict)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    complete: bool = False
    encoding: str | None = None
    max_pages: int | None = Field(default=None, ge=1, le=MAX_PAGES)
    defaults: Defaults | None = None
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in connectors.source_types():
            known = ", ".join(connectors.source_types())
            raise ValueError(f"unknown type {value!r} (known: {known})")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> timedelta:
        return parse_interval(value)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        return None if value is None else _check_kind(value)

    @field_validator("kind_by_category")
    @classmethod
    def _kinds(cls, value: dict[str, str]) -> dict[str, str]:
        for kind in value.values():
            _check_kind(kind)
        return value

    @model_validator(mode="after")
    def _said_once(self) -> SourceSpec:
        for key in ("kind", "language"):  # the short form and defaults: one of them
            if getattr(self, key) and self.defaults and getattr(self.defaults, key):
                raise ValueError(f"'{key}' and 'defaults.{key}' both given; keep one")
        return self


class ClusterSpec(_Model):
    """One ``clusters:`` entry."""

    slug: str = Field(pattern=_SLUG)
    name: dict[str, str]
    country: str = Field(pattern=r"^[A-Z]{2}$")
    sector: str
    homepage: str
    languages: list[str] = Field(min_length=1)
    description: dict[str, str] = Field(default_factory=dict)
    sources: list[SourceSpec] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in UI_LANGUAGES if not value.get(lang)]
        if missing:
            raise ValueError(f"missing name in {', '.join(missing)}")
        return value

    def display_name(self, language: str) -> str:
        return self.name.get(language) or self.name["en"]


class _File(_Model):
    clusters: list[ClusterSpec] = Field(min_length=1)


@dataclasses.dataclass(frozen=True)
class Registry:
    """The federation as ``clusters.yaml`` declares it."""

    path: Path
    clusters: tuple[ClusterSpec, ...]
    sources: tuple[Source, ...]

    def find_cluster(self, slug: str) -> ClusterSpec | None:
        return next((c for c in self.clusters if c.slug == slug), None)


def load(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> Registry:
    """Read and validate a registry file.

    ``${VAR}`` and ``${VAR:-default}`` in string values are taken from ``environ``
    (default ``os.environ``), so one file can point at staging or demo hosts.

    Raises:
        RegistryError: the file is missing, not YAML, or breaks a rule; every problem
            listed.
    """
    path = Path(path)
    environ = os.environ if environ is None else environ
    doc = read_document(path)
    problems = list(interpolate(doc, (), environ, path))
    if problems:
        raise RegistryError(problems)
    origin: Callable[[Sequence[str | int]], Path] = _one_file(path)
    if "extends" in doc:
        path, doc, origin = extend(path, doc, environ)
    try:
        spec = _File.model_validate(doc)
    except ValidationError as e:
        raise RegistryError(
            [
                f"{origin(err['loc'])}:{line_of(doc, err['loc'])}: "
                f"{field_path(err['loc'])}: {message(err)}"
                for err in e.errors()
            ]
        ) from e
    problems = list(_check_unique(spec, doc, origin))
    extra: dict[tuple[int, int], dict[str, Any]] = {}
    for i, cluster in enumerate(spec.clusters):
        for j, source in enumerate(cluster.sources):
            loc = ("clusters", i, "sources", j)
            try:
                extra[i, j] = _connector_options(source)
            except ValidationError as e:
                problems += [
                    f"{origin(loc)}:{line_of(doc, (*loc, *err['loc']))}: "
                    f"{field_path((*loc, *err['loc']))}: {message(err)}"
                    for err in e.errors()
                ]
    if problems:
        raise RegistryError(problems)
    return Registry(
        path=path,
        clusters=tuple(spec.clusters),
        sources=tuple(_sources(spec, extra)),
    )


def _one_file(path: Path) -> Callable[[Sequence[str | int]], Path]:
    def origin(loc: Sequence[str | int]) -> Path:
        return path

    return origin


def _connector_options(source: SourceSpec) -> dict[str, Any]:
    """The connector's own keys of a source, validated by its ``options_model``,
    as JSON-ready values (they are stored with the source)."""
    extras = dict(source.model_extra or {})
    model = getattr(connectors.get_connector(source.type), "options_model", None)
    if model is None:
        model = _NoOptions
    return model.model_validate(extras).model_dump(mode="json", exclude_unset=True)


class _NoOptions(_Model):
    """The options of a connector that has none: any extra key is unknown."""


def _sources(
    spec: _File, extra: Mapping[tuple[int, int], Mapping[str, Any]]
) -> Iterable[Source]:
    for i, cluster in enumerate(spec.clusters):
        for j, source in enumerate(cluster.sources):
            options = source.model_dump(
                include={
                    "kind",
                    "kind_by_category",
                    "language",
                    "complete",
                    "encoding",
                    "max_pages",
                    "defaults",
                    "rules",
                },
                exclude_none=True,
            )
            options.update(extra[i, j])
            yield Source(
                key=f"{cluster.slug}/{source.id or source.type}",
                cluster=cluster.slug,
                type=source.type,
                url=source.url,
                interval=source.interval,
                options=options,
            )


def _check_unique(
    spec: _File, doc: Any, origin: Callable[[Sequence[str | int]], Path]
) -> Iterable[str]:
    seen: set[str] = set()
    for i, cluster in enumerate(spec.clusters):
        loc: tuple[str | int, ...] = ("clusters", i, "slug")
        if cluster.slug in seen:
            yield (
                f"{origin(loc)}:{line_of(doc, loc)}: {field_path(loc)}: "
                f"duplicate slug {cluster.slug!r}"
            )
        seen.add(cluster.slug)
        ids: set[str] = set()
        for j, source in enumerate(cluster.sources):
            source_id = source.id or source.type
            loc = ("clusters", i, "sources", j, "id" if source.id else "type")
            if source_id in ids:
                yield (
                    f"{origin(loc)}:{line_of(doc, loc)}: {field_path(loc)}: "
                    f"duplicate source id {source_id!r} in cluster {cluster.slug!r}; "
                    "give each source an 'id:'"
                )
            ids.add(source_id)


class Watcher:
    """Reloads the registry when its file changes.

    A file that fails validation is refused, logged, and the last good registry stays
    in force.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.registry: Registry | None = None
        self.error: RegistryError | None = None
        self._stamp: tuple[int, int] | None = None

    def poll(self) -> Registry | None:
        """The registry if the file changed since the last poll, else None.

        A changed file that fails validation also gives None.
        """
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            self.registry = load(self.path)
        except RegistryError as e:
            self.error = e
            log.error(
                "registry %s refused, keeping the previous one:\n%s", self.path, e
            )
            return None
        self.error = None
        log.info(
            "registry %s loaded: %d clusters, %d sources",
            self.path,
            len(self.registry.clusters),
            len(self.registry.sources),
        )
        return self.registry
