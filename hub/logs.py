"""Log lines: one per event, JSON (production) or readable text (demo), with the
fields bound by ``context`` (a harvest's source and run). Owns the format only, never
what is logged; every value is escaped, so no logged string can start a line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import IO
from typing import Any

HANDLER_NAME = "ecoop"
# Libraries that speak on every request or tick: warnings only.
QUIET = ("werkzeug", "apscheduler", "urllib3", "alembic")

_CONTEXT: contextvars.ContextVar[tuple[tuple[str, object], ...]] = (
    contextvars.ContextVar("ecoop_log_context", default=())
)
# Attributes every LogRecord has: anything else on a record is a field to print.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))
) | {"message", "asctime", "taskName"}

# Whatever could end a line for some reader (C0 and C1 controls, DEL, U+2028/2029:
# Python's str.splitlines splits on all of them) or reorder what a terminal shows
# (bidirectional overrides, "Trojan Source", CVE-2021-42574).
_LINE_BREAKERS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TEXT_ESCAPES = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _LINE_BREAKERS
}
_TEXT_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_TEXT_ESCAPES.update({c: f"\\u{c:04x}" for c in _BIDI})
# json.dumps already escapes C0, quotes and backslashes; the rest become \uXXXX,
# which is valid JSON because these characters only occur inside strings.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]}
_JSON_ESCAPES.update({c: f"\\u{c:04x}" for c in _BIDI})


def escape(text: str) -> str:
    """``text`` on one line: control and line-breaking characters as escapes."""
    return text.translate(_TEXT_ESCAPES)


@contextlib.contextmanager
def context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every line logged in this block (in this thread)."""
    token = _CONTEXT.set((*_CONTEXT.get(), *fields.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record; a field given with ``extra=`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get():
            record.__dict__.setdefault(name, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: value
        for name, value in record.__dict__.items()
        if name not in _STANDARD and not name.startswith("_")
    }


class TextFormatter(logging.Formatter):
    """``2026-11-27 12:00:00,123 INFO hub.harvest [source=a/b, run_id=7]: message``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = ", ".join(f"{k}={_quoted(v)}" for k, v in _fields(record).items())
        line = (
            f"{self.formatTime(record)} {record.levelname} {record.name}"
            f"{f' [{fields}]' if fields else ''}: {escape(record.getMessage())}"
        )
        if record.exc_info:
            line += " | " + escape(self.formatException(record.exc_info))
        if record.stack_info:
            line += " | " + escape(self.formatStack(record.stack_info))
        return line


def _quoted(value: object) -> str:
    text = escape(str(value))
    if not text or any(c in text for c in ' "=,[]'):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the bound
    fields, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str).translate(
            _JSON_ESCAPES
        )


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter of ``ECOOP_LOG_FORMAT``: ``json`` or ``text``."""
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(
    fmt: str = "text",
    level: str = "info",
    *,
    stream: IO[str] | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Log every event to ``stream`` (stderr) as one line in ``fmt``.

    Like ``logging.basicConfig``, leaves alone a root logger that another tool
    already equipped (pytest's capture, gunicorn's ``logconfig_dict``) unless
    ``force``; a handler set here before is replaced.

    Returns:
        The handler, or None when the root logger was left alone.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == HANDLER_NAME]
    if len(ours) < len(root.handlers) and not force:
        return None
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(make_formatter(fmt))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def dict_config(fmt: str = "json", level: str = "info") -> dict[str, Any]:
    """The same set-up as ``configure``, for ``logging.config.dictConfig``: gunicorn's
    ``logconfig_dict`` (deploy/gunicorn.conf.py). gunicorn's own messages get the same
    format; its access log is dropped (nginx keeps one)."""
    formatter = "hub.logs.JsonFormatter" if fmt == "json" else "hub.logs.TextFormatter"
    quiet = {name: {"level": "WARNING"} for name in QUIET}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "hub.logs.ContextFilter"}},
        "formatters": {"ecoop": {"()": formatter}},
        "handlers": {
            HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "ecoop",
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": [HANDLER_NAME]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"handlers": [], "propagate": False},
            **quiet,
        },
    }
