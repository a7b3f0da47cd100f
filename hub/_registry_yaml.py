"""Reading clusters.yaml as a round-trip document: YAML syntax errors with line and
column, ``${VAR}`` values from the environment, overlays (``extends:``), and the line
of any field for error messages. Pure: reads files, no network, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class RegistryError(Exception):
    """clusters.yaml is unusable.

    ``problems`` holds one ``file:line: field: message`` each.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_document(path: Path) -> Any:
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


def extend(
    path: Path, overlay: Any, environ: Mapping[str, str]
) -> tuple[Path, Any, Callable[[Sequence[str | int]], Path]]:
    """Apply an overlay file.

    An overlay is ``extends: <base file>`` plus ``source_urls: {cluster/id: url}``
    and ``add_sources: {cluster: [source, ...]}``. Lets a demo or staging registry
    point the real clusters at other hosts, or give them sources that exist only
    there, without copying them.

    Returns the base file's path, its document with the overlay applied, and a
    function telling which file a field's location (as in pydantic errors) was
    written in, for error messages.
    """
    allowed = ("extends", "source_urls", "add_sources")
    unknown = [k for k in overlay if k not in allowed]
    if unknown:
        raise RegistryError(
            [
                f"{path}:{line_of(overlay, [unknown[0]])}: {unknown[0]}: unknown field "
                "(an overlay has only 'extends', 'source_urls' and 'add_sources')"
            ]
        )
    base_path = path.parent / str(overlay["extends"])
    base = read_document(base_path)
    problems = list(interpolate(base, (), environ, base_path))
    if problems:
        raise RegistryError(problems)
    clusters = [c for c in base.get("clusters") or [] if isinstance(c, Mapping)]
    urls = dict(overlay.get("source_urls") or {})
    for cluster in clusters:
        for source in cluster.get("sources") or []:
            key = f"{cluster.get('slug')}/{source.get('id') or source.get('type')}"
            if key in urls:
                source["url"] = urls.pop(key)
    if urls:
        key = next(iter(urls))
        raise RegistryError(
            [
                f"{path}:{line_of(overlay, ['source_urls', key])}: "
                f"source_urls.{key}: no such source in {base_path}"
            ]
        )
    added: set[tuple[int, int]] = set()
    by_slug = {c.get("slug"): (i, c) for i, c in enumerate(base.get("clusters") or [])}
    for slug, sources in dict(overlay.get("add_sources") or {}).items():
        if slug not in by_slug or not isinstance(sources, list):
            problem = (
                f"no such cluster in {base_path}"
                if slug not in by_slug
                else "expected a list of sources"
            )
            raise RegistryError(
                [
                    f"{path}:{line_of(overlay, ['add_sources', slug])}: "
                    f"add_sources.{slug}: {problem}"
                ]
            )
        i, cluster = by_slug[slug]
        if cluster.get("sources") is None:
            cluster["sources"] = []
        for source in sources:
            added.add((i, len(cluster["sources"])))
            cluster["sources"].append(source)

    def origin(loc: Sequence[str | int]) -> Path:
        if len(loc) >= 4 and loc[0] == "clusters" and loc[2] == "sources":
            if (loc[1], loc[3]) in added:
                return path
        return base_path

    return base_path, base, origin


def interpolate(
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
                    f"{path}:{_line_of_node(node, key)}: {field_path(where)}: "
                    f"environment variable {missing[0]} is not set"
                )
                continue
            node[key] = _ENV.sub(lambda m: environ.get(m[1], m[2] or ""), value)
        else:
            yield from interpolate(value, (*loc, key), environ, path)


def _line_of_node(node: Any, key: Any) -> int:
    try:
        return int(
            node.lc.item(key)[0] + 1
            if isinstance(key, int)
            else node.lc.value(key)[0] + 1
        )
    except (AttributeError, KeyError, TypeError):
        return int(getattr(getattr(node, "lc", None), "line", 0)) + 1


def line_of(doc: Any, loc: Iterable[str | int]) -> int:
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


def field_path(loc: Iterable[str | int]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def message(err: Any) -> str:
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
