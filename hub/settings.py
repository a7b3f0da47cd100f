"""Deployment settings: one registry of keys with defaults and help.

Read from the environment (or a mapping in tests). Feeds the loader, the README table
and its docs test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_REGISTRY = Path("config/clusters.yaml")


class SettingsError(Exception):
    """A setting has a value that cannot be used."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError(f"{value!r} must be positive")
        return number

    return parse


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "sqlite:///ecoop.sqlite3",
        "SQLAlchemy URL of the index; postgresql+psycopg://... in production.",
    ),
    Setting(
        "ECOOP_REGISTRY", str(DEFAULT_REGISTRY), "Path of the cluster registry YAML."
    ),
    Setting(
        "SECRET_KEY", "dev-only-change-me", "Flask secret key; set it in production."
    ),
    Setting(
        "ECOOP_SCHEDULER",
        True,
        "Run the harvest scheduler inside `ecoop serve` "
        "(false for web-only processes).",
        _bool,
    ),
    Setting(
        "ECOOP_TICK_SECONDS",
        30.0,
        "How often the scheduler looks for due sources.",
        _positive(float),
    ),
    Setting(
        "ECOOP_FETCH_CONNECT_TIMEOUT",
        5.0,
        "Connect timeout per fetch, seconds.",
        _positive(float),
    ),
    Setting(
        "ECOOP_FETCH_READ_TIMEOUT",
        20.0,
        "Read timeout per fetch, seconds.",
        _positive(float),
    ),
    Setting(
        "ECOOP_FETCH_DEADLINE",
        60.0,
        "Longest a whole fetch may take, seconds (beats servers that trickle).",
        _positive(float),
    ),
    Setting(
        "ECOOP_POOL_SIZE", 4, "Sources fetched at once by one process.", _positive(int)
    ),
    Setting(
        "ECOOP_PER_HOST", 1, "Fetches at once to one host, per process.", _positive(int)
    ),
    Setting(
        "ECOOP_PING_MIN_SECONDS",
        300,
        "Least time between two accepted pings of one source, seconds.",
        _positive(int),
    ),
    Setting(
        "ECOOP_FETCH_MAX_BYTES",
        10 * 1024 * 1024,
        "Largest body a fetch accepts, bytes.",
        _positive(int),
    ),
)


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``.

    ``overrides`` are already typed (e.g. from tests).

    Raises:
        SettingsError: a value in the environment cannot be parsed.
    """
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        values[setting.name] = setting.default
        if setting.name in environ:
            try:
                values[setting.name] = setting.parse(environ[setting.name])
            except ValueError as e:
                raise SettingsError(f"setting {setting.name}: {e}") from e
    values.update(overrides or {})
    return values
