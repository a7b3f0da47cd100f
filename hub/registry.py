"""clusters.yaml -> a validated, frozen Registry of clusters and their sources.

Every error names file, line and field. Pure: reads one file, no network, no database.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

import connectors
from connectors.base import Source
from hub.kinds import OfferKind

log = logging.getLogger(__name__)

UI_LANGUAGES = ("pl", "lt", "en")
MIN_INTERVAL = timedelta(minutes=1)
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class RegistryError(Exception):
    """clusters.yaml is unusable.

    ``problems`` holds one ``file:line: field: message`` each.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    """One ``sources:`` entry."""

    id: str | None = Field(default=None, pattern=_SLUG)
    type: str
    url: str
    interval: timedelta = timedelta(hours=1)
    kind: str | None = None
    kind_by_category: dict[str, str] = Field(default_factory=dict)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    complete: bool = False
    encoding: str | None = None

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


def _check_kind(value: str) -> str:
    if value not in {k.value for k in OfferKind}:
        known = ", ".join(k.value for k in OfferKind)
        raise ValueError(f"unknown kind {value!r} (known: {known})")
    return value


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
    doc = _read(path)
    problems = list(_interpolate(doc, (), environ, path))
    if problems:
        raise RegistryError(problems)
    if "extends" in doc:
        path, doc = _extend(path, doc, environ)
    try:
        spec = _File.model_validate(doc)
    except ValidationError as e:
        raise RegistryError(
            [
                f"{path}:{_line_of(doc, err['loc'])}: "
                f"{_field(err['loc'])}: {_message(err)}"
                for err in e.errors()
            ]
        ) from e
    problems = list(_check_unique(spec, doc, path))
    if problems:
        raise RegistryError(problems)
    return Registry(
        path=path, clusters=tuple(spec.clusters), sources=tuple(_sources(spec))
    )


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RegistryError([f"{path}: cannot read: {e}"]) from e
    try:
        doc = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        raise RegistryError([f"{path}:{where}: YAML syntax error: {e.problem}"]) from e
    if not isinstance(doc, Mapping):
        raise RegistryError(
            [f"{path}:1: the file must be a mapping with a 'clusters:' list"]
        )
    return doc


def _extend(path: Path, overlay: Any, environ: Mapping[str, str]) -> tuple[Path, Any]:
    """Apply an overlay file.

    An overlay is ``extends: <base file>`` plus ``source_urls: {cluster/id: url}``.
    Lets a demo or staging registry point the real clusters at other hosts without
    copying them. Returns the base file's path and its document with the URLs
    replaced.
    """
    unknown = [k for k in overlay if k not in ("extends", "source_urls")]
    if unknown or "clusters" in overlay:
        key = unknown[0] if unknown else "clusters"
        raise RegistryError(
            [
                f"{path}:{_line_of(overlay, [key])}: {key}: unknown field "
                "(an overlay has only 'extends' and 'source_urls')"
            ]
        )
    base_path = path.parent / str(overlay["extends"])
    base = _read(base_path)
    problems = list(_interpolate(base, (), environ, base_path))
    if problems:
        raise RegistryError(problems)
    urls = dict(overlay.get("source_urls") or {})
    for cluster in base.get("clusters") or []:
        for source in (
            (cluster.get("sources") or []) if isinstance(cluster, Mapping) else []
        ):
            key = f"{cluster.get('slug')}/{source.get('id') or source.get('type')}"
            if key in urls:
                source["url"] = urls.pop(key)
    if urls:
        key = next(iter(urls))
        raise RegistryError(
            [
                f"{path}:{_line_of(overlay, ['source_urls', key])}: "
                f"source_urls.{key}: no such source in {base_path}"
            ]
        )
    return base_path, base


def _sources(spec: _File) -> Iterable[Source]:
    for cluster in spec.clusters:
        for source in cluster.sources:
            options = source.model_dump(
                include={
                    "kind",
                    "kind_by_category",
                    "language",
                    "complete",
                    "encoding",
                },
                exclude_none=True,
            )
            yield Source(
                key=f"{cluster.slug}/{source.id or source.type}",
                cluster=cluster.slug,
                type=source.type,
                url=source.url,
                interval=source.interval,
                options=options,
            )


def _check_unique(spec: _File, doc: Any, path: Path) -> Iterable[str]:
    seen: set[str] = set()
    for i, cluster in enumerate(spec.clusters):
        loc: tuple[str | int, ...] = ("clusters", i, "slug")
        if cluster.slug in seen:
            yield (
                f"{path}:{_line_of(doc, loc)}: {_field(loc)}: "
                f"duplicate slug {cluster.slug!r}"
            )
        seen.add(cluster.slug)
        ids: set[str] = set()
        for j, source in enumerate(cluster.sources):
            source_id = source.id or source.type
            loc = ("clusters", i, "sources", j, "id" if source.id else "type")
            if source_id in ids:
                yield (
                    f"{path}:{_line_of(doc, loc)}: {_field(loc)}: duplicate source id "
                    f"{source_id!r} in cluster {cluster.slug!r}; "
                    "give each source an 'id:'"
                )
            ids.add(source_id)


def _interpolate(
    node: Any, loc: tuple[str | int, ...], environ: Mapping[str, str], path: Path
) -> Iterable[str]:
    """Replace ``${VAR}`` in string scalars in place.

    Yields a problem per unset variable.
    """
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, Mapping):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if isinstance(value, str) and "${" in value:
            missing = [
                m[1]
                for m in _ENV.finditer(value)
                if m[2] is None and m[1] not in environ
            ]
            if missing:
                where = (*loc, key)
                yield (
                    f"{path}:{_line_of_node(node, key)}: {_field(where)}: "
                    f"environment variable {missing[0]} is not set"
                )
                continue
            node[key] = _ENV.sub(lambda m: environ.get(m[1], m[2] or ""), value)
        else:
            yield from _interpolate(value, (*loc, key), environ, path)


def _line_of_node(node: Any, key: Any) -> int:
    try:
        return int(
            node.lc.item(key)[0] + 1
            if isinstance(key, int)
            else node.lc.value(key)[0] + 1
        )
    except (AttributeError, KeyError, TypeError):
        return int(getattr(getattr(node, "lc", None), "line", 0)) + 1


def _line_of(doc: Any, loc: Iterable[str | int]) -> int:
    """The line of the deepest node of ``loc``.

    Only nodes that exist in the round-trip document count.
    """
    node, line = doc, 1
    for key in loc:
        try:
            if hasattr(node, "lc"):
                if isinstance(key, int):
                    line = node.lc.item(key)[0] + 1
                elif key in node:
                    line = node.lc.value(key)[0] + 1
                else:  # a missing key: point at the mapping that lacks it
                    line = node.lc.line + 1
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return int(line)


def _field(loc: Iterable[str | int]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _message(err: Any) -> str:
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


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
