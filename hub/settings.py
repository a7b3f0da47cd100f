"""Deployment settings: one registry of keys with defaults and help.

Read from an optional settings file and the environment (or a mapping in tests);
unknown ``ECOOP_*`` names and bad values fail at start. Feeds the loader, the README
table and its docs test.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_REGISTRY = Path("config/clusters.yaml")


class SettingsError(Exception):
    """Settings that cannot be used: every problem, one per line."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return lowered

    return parse


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError(f"{value!r} must be positive")
        return number

    return parse


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise ValueError(f"{value!r} must be at least {minimum}")
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
        "ECOOP_OPERATOR_TOKEN",
        "",
        'Secret that signs an operator in on the status page ("harvest now"); '
        "empty turns operator sign-in off.",
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
        "ECOOP_SETTINGS_FILE",
        "",
        "Optional file of NAME=value lines (the format of deploy/ecoop.env.example), "
        "read before the environment, which wins.",
    ),
    Setting(
        "ECOOP_LOG_FORMAT",
        "text",
        "Log lines as readable `text` (demo) or `json` (production), one per event.",
        _choice("text", "json"),
    ),
    Setting(
        "ECOOP_LOG_LEVEL",
        "info",
        "Least level logged: debug, info, warning or error.",
        _choice("debug", "info", "warning", "error"),
    ),
    Setting(
        "ECOOP_READY_TIMEOUT",
        2.0,
        "Longest the database check of /readyz may take, seconds.",
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
        "ECOOP_PARSE_TIMEOUT",
        120.0,
        "Longest the parse (and normalising) of one fetched document may take, "
        "seconds; the parsing process is killed then.",
        _positive(float),
    ),
    Setting(
        "ECOOP_PARSE_MAX_MB",
        1024,
        "Memory the parse of one fetched document may add, MB.",
        _positive(int),
    ),
    Setting(
        "ECOOP_RUN_HISTORY_DAYS",
        30,
        "Days of harvest runs kept (at least 8); older runs are deleted, their "
        "counts kept for the metrics.",
        _at_least(8),
    ),
    Setting(
        "ECOOP_POOL_SIZE", 4, "Sources fetched at once by one process.", _positive(int)
    ),
    Setting(
        "ECOOP_PER_HOST",
        1,
        "Sources of one host harvested at once (its lanes), per process.",
        _positive(int),
    ),
    Setting(
        "ECOOP_PAGE_CACHE_SECONDS",
        60.0,
        "Longest an anonymous visitor's page is served from the process's cache, "
        "seconds (a harvest that changed the index drops it sooner); 0: off.",
        float,
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
    Setting(
        "ECOOP_FETCH_ALLOW",
        (),
        "Networks fetches may reach although private or loopback, comma-separated "
        "CIDRs (e.g. 127.0.0.1/32); empty: public addresses only.",
        lambda value: tuple(n.strip() for n in value.split(",") if n.strip()),
    ),
)


# ECOOP_* variables that are not settings, so the strict check lets them pass: the
# demo registry's `${ECOOP_DEMO_SITES}` and the test suite's switches.
NOT_SETTINGS = ("ECOOP_DEMO_SITES",)
NOT_SETTINGS_PREFIXES = ("ECOOP_TEST_", "ECOOP_REQUIRE_")
_BY_NAME = {setting.name: setting for setting in SETTINGS}
_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the settings file (``ECOOP_SETTINGS_FILE``), then the
    environment, then ``overrides``.

    ``overrides`` are already typed (e.g. from tests). An ``ECOOP_*`` variable that
    is no setting is an error, so a misspelt name fails at start instead of being
    ignored.

    Raises:
        SettingsError: every problem found: an unknown name, a malformed line of the
            settings file, a value that cannot be parsed.
    """
    problems: list[str] = []
    raw: dict[str, tuple[str, str]] = {}  # name -> (text, where it was set)
    if environ.get("ECOOP_SETTINGS_FILE"):
        raw.update(_read_file(Path(environ["ECOOP_SETTINGS_FILE"]), problems))
    for name, text in environ.items():
        if name in _BY_NAME:
            raw[name] = (text, "environment")
        elif name.startswith("ECOOP_") and not _exempt(name):
            problems.append(f"environment: unknown setting {name}{_hint(name)}")
    values = {setting.name: setting.default for setting in SETTINGS}
    for name, (text, where) in raw.items():
        try:
            values[name] = _BY_NAME[name].parse(text)
        except ValueError as e:
            problems.append(f"{where}: setting {name}: {e}")
    if problems:
        raise SettingsError(problems)
    values.update(overrides or {})
    return values


def _read_file(path: Path, problems: list[str]) -> dict[str, tuple[str, str]]:
    """``NAME=value`` lines; blank lines and ``#`` comments skipped; one pair of
    quotes around a value removed (as systemd's EnvironmentFile does)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path}: cannot read the settings file: {e}")
        return {}
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        match = _LINE.fullmatch(stripped)
        if match is None:
            problems.append(f"{where}: expected NAME=value")
            continue
        name, value = match[1], match[2]
        if name not in _BY_NAME or name == "ECOOP_SETTINGS_FILE":
            problems.append(f"{where}: unknown setting {name}{_hint(name)}")
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[name] = (value, where)
    return found


def _exempt(name: str) -> bool:
    return name in NOT_SETTINGS or name.startswith(NOT_SETTINGS_PREFIXES)


def _hint(name: str) -> str:
    close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
