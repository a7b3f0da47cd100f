"""Log lines: one per event, JSON or text, with the harvest's source and run; no
logged string can forge a line."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LOOPBACK
from helpers import write_registry
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from connectors.http import make_http
from hub import index
from hub import logs
from hub.harvest import Harvester
from hub.registry import load
from hub.scheduler import utcnow

FORGED = "Spawacz\n2026-11-27 ERROR forged"
RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Metal</title><link>https://metal.example/</link>
<description>x</description>
<item><title>{title}</title><link>https://metal.example/o/1</link>
<guid>o-1</guid><description>Praca</description></item>
</channel></rss>"""


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    """The root logger as ``ecoop`` sets it up, writing to a string; restored after.

    ``ecoop harvest`` quiets the "hub" logger (its table says it all): not here.
    """
    root, hub = logging.getLogger(), logging.getLogger("hub")
    levels, handlers = (root.level, hub.level), list(root.handlers)
    hub.setLevel(logging.NOTSET)
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(levels[0])
    hub.setLevel(levels[1])


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_harvested_string_cannot_forge_a_log_line(
    capture: io.StringIO, fmt: str
) -> None:
    logs.configure(fmt, stream=capture, force=True)
    log = logging.getLogger("hub.test")
    log.warning("item %s refused", FORGED, extra={"title": FORGED})
    try:
        raise ValueError(FORGED + "\r\x1b[2K\u2028\x85")
    except ValueError:
        log.exception("normalising %s failed", FORGED)
    written = capture.getvalue()
    assert written.count("\n") == 2  # two events, two lines
    assert not any(line.startswith("2026-11-27 ERROR") for line in lines(capture))
    for forbidden in ("\r", "\x1b", "\u2028", "\x85"):
        assert forbidden not in written
    if fmt == "json":
        first, second = (json.loads(line) for line in lines(capture))
        assert first["message"] == f"item {FORGED} refused"  # lossless once parsed
        assert first["title"] == FORGED
        assert second["level"] == "error"
        assert FORGED in second["exception"]
    else:
        assert "item Spawacz\\n2026-11-27 ERROR forged refused" in written


def test_text_lines_are_readable_with_their_fields(capture: io.StringIO) -> None:
    logs.configure("text", stream=capture, force=True)
    with logs.context(source="metal/feed", run_id=7):
        logging.getLogger("hub.harvest").info("harvested %s", "metal/feed")
    [line] = lines(capture)
    assert line.endswith(
        " INFO hub.harvest [source=metal/feed, run_id=7]: harvested metal/feed"
    )


def test_context_fields_stay_in_their_block_and_their_thread(
    capture: io.StringIO,
) -> None:
    logs.configure("json", stream=capture, force=True)
    log = logging.getLogger("hub.test")
    with logs.context(source="a/b"):
        with logs.context(run_id=3):
            log.info("inner")
        log.info("outer", extra={"source": "given/explicitly"})
    log.info("none")

    def in_a_pool_thread() -> None:  # which does not inherit the caller's context
        with logs.context(source="c/d", run_id=4):
            log.info("thread")

    worker = threading.Thread(target=in_a_pool_thread)
    worker.start()
    worker.join()
    entries = [json.loads(line) for line in lines(capture)]
    fields = [
        {k: e.get(k) for k in ("message", "source", "run_id") if k in e}
        for e in entries
    ]
    assert fields == [
        {"message": "inner", "source": "a/b", "run_id": 3},
        {"message": "outer", "source": "given/explicitly"},
        {"message": "none"},
        {"message": "thread", "source": "c/d", "run_id": 4},
    ]


def test_configure_leaves_a_root_logger_equipped_by_another_tool(
    capture: io.StringIO,
) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    assert logs.configure("json", stream=capture) is None
    handler = logs.configure("json", stream=capture, force=True)
    assert handler is not None
    again = logs.configure("text", stream=capture, force=True)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "ecoop"]
    assert ours == [again]  # replaced, never stacked


def test_harvest_log_lines_carry_source_and_run_id(
    capture: io.StringIO,
    httpserver: HTTPServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS.format(title=FORGED), content_type="application/rss+xml"
    )
    registry = load(
        write_registry(tmp_path / "c.yaml", {"feed": httpserver.url_for("/feed")})
    )
    with sessions() as db:
        index.sync_registry(db, registry, utcnow())
    logs.configure("json", "debug", stream=capture, force=True)
    [summary] = Harvester(sessions, make_http(), owner="test", policy=LOOPBACK).run(
        due_only=False
    )
    assert (summary.status, summary.new) == ("ok", 1)
    entries = [json.loads(line) for line in lines(capture)]  # every line is JSON
    harvested = [e for e in entries if e["message"].startswith("harvested ")]
    assert [(e["source"], e["run_id"], e["logger"]) for e in harvested] == [
        ("metal/feed", 1, "hub.harvest")
    ]
