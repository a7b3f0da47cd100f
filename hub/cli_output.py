"""What ``ecoop`` prints about harvests: the per-source summary table and the progress
of a long run (a bar on a terminal, plain lines otherwise)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import click

from hub.listings import SourceHealth
from hub.logs import escape
from hub.recording import RunSummary


def print_summaries(summaries: list[RunSummary]) -> None:
    """``ecoop harvest``'s table: a line per source harvested."""
    width = max([34, *(len(s.source) for s in summaries)])
    click.echo(
        f"{'source':<{width}} {'status':<13} {'new':>5} {'updated':>8}"
        f" {'unchanged':>10} {'withdrawn':>10} {'failed':>7}  error / warning"
    )
    for s in summaries:
        note = f"{s.error_class}: {s.error}" if s.error else (s.warning or "")
        click.echo(
            f"{s.source:<{width}} {s.status:<13} {s.new:>5} {s.updated:>8}"
            f" {s.unchanged:>10} {s.withdrawn:>10} {s.failed:>7}  {escape(note)}"
        )


def print_health(health: list[SourceHealth]) -> None:
    """``ecoop status``'s table: a line per source, its last run and its health."""
    width = max([32, *(len(row.source.key) for row in health)])
    click.echo(
        f"{'source':<{width}} {'state':<9} {'last run':<17} {'result':<12} {'http':>4} "
        f"{'new':>4} {'upd':>4} {'same':>5} {'errs':>4} {'next check':<17} note"
    )
    for row in health:
        run, src = row.last_run, row.source
        when = f"{run.started_at:%Y-%m-%d %H:%M}" if run else "-"
        note = src.attention or src.last_error or (run.warning if run else "") or ""
        click.echo(
            f"{src.key:<{width}} {row.state:<9} {when:<17} "
            f"{run.status if run else '-':<12} "
            f"{(run.http_status if run else None) or '-':>4} "
            f"{run.items_new if run else 0:>4} {run.items_updated if run else 0:>4} "
            f"{run.items_unchanged if run else 0:>5} {src.consecutive_errors:>4} "
            f"{src.next_check_at:%Y-%m-%d %H:%M}  {escape(note)}"
        )


class HarvestProgress:
    """Progress of ``ecoop harvest`` on stderr: a bar on a terminal (erased before
    the table), else one plain line per finished source once the run has lasted
    ``after`` seconds (short runs print only the table)."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        tty: bool | None = None,
        after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty() if tty is None else tty
        self.after, self.clock = after, clock
        self.started = clock()
        self._drawn = False

    def claimed(self, keys: list[str]) -> None:
        self.total = len(keys)  # sources another process holds are not waited for
        self._bar("")

    def finished(self, summary: RunSummary) -> None:
        self.done += 1
        if self.tty:
            self._bar(summary.source)
        elif self.clock() - self.started >= self.after:
            self.stream.write(
                f"harvest: {self.done}/{self.total} {escape(summary.source)} "
                f"{summary.status} (new {summary.new}, updated {summary.updated})\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")  # erase the bar: the table follows
            self.stream.flush()

    def _bar(self, current: str) -> None:
        if not self.tty:
            return
        width = 30
        filled = width * self.done // self.total if self.total else width
        self.stream.write(
            f"\r\x1b[Kharvesting [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {escape(current)[:40]}"
        )
        self.stream.flush()
        self._drawn = True
