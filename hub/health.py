"""Liveness and readiness for load balancers and process managers: ``/healthz`` and
``/readyz``. Reads only (a probe connection with a short timeout, the migration
head, the registry file); never writes the index, never waits long.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.pool import NullPool

from hub import db as hub_db
from hub.registry import Watcher

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the readiness answer."""

    name: str
    ok: bool
    detail: str


class Probe:
    """What the checks of one app keep between requests: the probe engine, the
    migration head, the registry watcher, the last answer (to log changes only)."""

    def __init__(self, app: Flask) -> None:
        self.timeout: float = app.config["ECOOP_READY_TIMEOUT"]
        self.engine = probe_engine(app)
        self.head = ScriptDirectory.from_config(
            hub_db.alembic_config(self.engine)
        ).get_current_head()
        self.watcher = Watcher(app.config["ECOOP_REGISTRY"])
        self._lock = threading.Lock()
        self._was_ready: bool | None = None

    def run(self) -> list[Check]:
        checks = [*self._database(), self._registry()]
        ready = all(check.ok for check in checks)
        with self._lock:
            changed, self._was_ready = ready != self._was_ready, ready
        if changed and ready:
            log.info("ready: %s", _summary(checks))
        elif changed:
            log.warning("not ready: %s", _summary(checks))
        return checks

    def _database(self) -> list[Check]:
        """Reachable (within the timeout) and at the migration head: one connection."""
        started = time.perf_counter()
        try:
            with self.engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                        {"ms": str(math.ceil(self.timeout * 1000))},
                    )
                connection.execute(sa.text("SELECT 1"))
                revision = MigrationContext.configure(connection).get_current_revision()
        except sa.exc.SQLAlchemyError as e:
            reason = _first_line(str(e.orig if isinstance(e, sa.exc.DBAPIError) else e))
            return [
                Check("database", False, f"unreachable: {reason}"),
                Check("migrations", False, "unknown: the database is unreachable"),
            ]
        took = (time.perf_counter() - started) * 1000
        database = Check("database", True, f"reachable in {took:.0f} ms")
        if revision == self.head:
            return [database, Check("migrations", True, f"at head {self.head}")]
        return [
            database,
            Check(
                "migrations",
                False,
                f"at {revision or 'none'}, head is {self.head}: run `ecoop db upgrade`",
            ),
        ]

    def _registry(self) -> Check:
        """A valid registry was loaded; a file refused later is reported, but the last
        good registry stays in force (hub.registry.Watcher), so it is still ready."""
        with self._lock:
            self.watcher.poll()
            registry, error = self.watcher.registry, self.watcher.error
        if registry is None:
            problem = error.problems[0] if error else "not loaded"
            return Check("registry", False, f"invalid: {problem}")
        counts = f"{len(registry.clusters)} clusters, {len(registry.sources)} sources"
        if error is not None:
            return Check(
                "registry",
                True,
                f"{counts} in force; the changed file was refused: {error.problems[0]}",
            )
        return Check("registry", True, f"{counts} from {self.watcher.path}")


def probe_engine(app: Flask) -> sa.Engine:
    """An engine for checks and scrapes: a fresh connection each time, and a short
    connect timeout on PostgreSQL, so an unreachable server answers in seconds.

    SQLite is a local file: the app's own engine serves. One per app.
    """
    if "ecoop.probe_engine" in app.extensions:
        return app.extensions["ecoop.probe_engine"]  # type: ignore[no-any-return]
    engine: sa.Engine = app.extensions["ecoop.engine"]
    if engine.dialect.name != "sqlite":
        seconds = max(2, math.ceil(app.config["ECOOP_READY_TIMEOUT"]))  # libpq: >= 2
        engine = sa.create_engine(
            engine.url, poolclass=NullPool, connect_args={"connect_timeout": seconds}
        )
    app.extensions["ecoop.probe_engine"] = engine
    return engine


def init_app(app: Flask) -> None:
    app.extensions["ecoop.probe"] = Probe(app)
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers: nothing else is checked (a liveness probe must not fail
    because the database is down, or every process would be restarted)."""
    return _no_store(jsonify(status="alive"), 200)


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to serve: database reachable, migrations at head, registry loaded.

    200 when every check passes, else 503; the JSON lists each check.
    """
    checks = current_app.extensions["ecoop.probe"].run()
    ready = all(check.ok for check in checks)
    body: dict[str, Any] = {
        "status": "ready" if ready else "unready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return _no_store(jsonify(body), 200 if ready else 503)


def _no_store(response: Any, status: int) -> ResponseReturnValue:
    response.headers["Cache-Control"] = "no-store"
    return response, status


def _summary(checks: list[Check]) -> str:
    return "; ".join(f"{c.name}: {c.detail}" for c in checks)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
