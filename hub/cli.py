"""The ``ecoop`` command group (built on Flask's).

Commands: demo, serve, worker, harvest, clusters (check, try), db.

Exit codes: 0 ok, 1 problems found (invalid file, a source failed), 2 usage error.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from flask.cli import FlaskGroup
from flask.cli import with_appcontext
from werkzeug.serving import make_server

from hub import collector
from hub import create_app
from hub import db as hub_db
from hub import index
from hub import listings
from hub import logs
from hub import metrics
from hub import scheduler
from hub import search_segments
from hub.cli_output import HarvestProgress
from hub.cli_output import print_health
from hub.cli_output import print_summaries
from hub.harvest import Harvester
from hub.registry import Registry
from hub.registry import RegistryError
from hub.registry import Watcher
from hub.registry import load
from hub.settings import SettingsError
from hub.settings import load_settings

DEMO_REGISTRY = Path("config/demo.yaml")


@click.group(
    cls=FlaskGroup,
    create_app=create_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """e-cooperation hub: harvest cluster offers into one index and serve the
    federation site."""
    try:  # bad settings stop every command here, before any work
        settings = load_settings(os.environ)
    except SettingsError as e:
        click.echo(f"ecoop: settings refused:\n{e}", err=True)
        sys.exit(2)
    logs.configure(settings["ECOOP_LOG_FORMAT"], settings["ECOOP_LOG_LEVEL"])


# --- clusters -----------------------------------------------------------------------


@main.group()
def clusters() -> None:
    """Inspect the cluster registry (config/clusters.yaml)."""


def _load_or_exit(path: Path) -> Registry:
    """The registry at ``path``; else each problem (file, line, field) and exit 1."""
    try:
        return load(path)
    except RegistryError as e:
        for problem in e.problems:
            click.echo(problem, err=True)
        sys.exit(1)


@clusters.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def clusters_check(file: Path | None) -> None:
    """Validate FILE (default: ECOOP_REGISTRY); exit 1 naming file, line and field."""
    path = file or Path(load_settings(os.environ)["ECOOP_REGISTRY"])
    registry = _load_or_exit(path)
    click.echo(
        f"{path}: ok, {len(registry.clusters)} clusters, "
        f"{len(registry.sources)} sources"
    )
    for source in registry.sources:
        minutes = int(source.interval.total_seconds() // 60)
        click.echo(
            f"  {source.key:<32} {source.type:<8} every {minutes:>4} min  {source.url}"
        )


@clusters.command("try")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cluster", "cluster", help="Only the sources of this cluster (slug).")
@click.option("--source", "source", help="Only this source (cluster/id, or id).")
@with_appcontext
def clusters_try(file: Path | None, cluster: str | None, source: str | None) -> None:
    """Dry run: fetch the sources of FILE (default: ECOOP_REGISTRY) once and print
    what they would give; nothing is written. Exit 1 unless every source gave
    offers."""
    from hub.trial import print_trials
    from hub.trial import try_sources

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = file or Path(app.config["ECOOP_REGISTRY"])
    registry = _load_or_exit(path)
    sources = [
        s
        for s in registry.sources
        if (cluster is None or s.cluster == cluster)
        and (source is None or source in (s.key, s.key.split("/", 1)[1]))
    ]
    if not sources:
        raise click.UsageError(f"no source of {path} matches --cluster/--source")
    logging.getLogger("hub").setLevel(logging.WARNING)  # the report says it all
    with make_harvester(app) as harvester:
        trials = try_sources(harvester, sources)
    print_trials(trials)
    sys.exit(0 if all(t.ok for t in trials) else 1)


# --- feed ---------------------------------------------------------------------------


@main.group()
def feed() -> None:
    """Member feeds in the offer feed profile (feeds/PROFILE.md)."""


@feed.command("validate", context_settings={"ignore_unknown_options": True})
@click.argument("source")
@click.option(
    "--format", "format_", type=click.Choice(["text", "json"]), default="text"
)
def feed_validate(source: str, format_: str) -> None:
    """Check a feed (a file, an http(s) URL or - for stdin) against the profile and
    report every problem with its place and a fix hint; exit 1 when it has errors.

    The same tool as ``python -m feeds validate``, which members run without the hub.
    """
    from feeds.__main__ import main as feeds_main

    sys.exit(feeds_main(["validate", source, "--format", format_]))


# --- db -----------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply pending migrations to DATABASE_URL."""
    engine = current_app.extensions["ecoop.engine"]
    hub_db.upgrade(engine)
    search_segments.refresh(engine)
    click.echo(f"database at revision {hub_db.current_revision(engine)}")


# --- harvesting ---------------------------------------------------------------------


def _sync_registry(app: Flask) -> None:
    path = Path(app.config["ECOOP_REGISTRY"])
    registry = _load_or_exit(path)
    with app.extensions["ecoop.sessions"]() as session:
        index.sync_registry(session, registry, scheduler.utcnow())


def make_harvester(app: Flask, *, watch: bool = False) -> Harvester:
    """A Harvester on the app's database.

    ``watch`` reloads the registry on each tick.
    """
    from connectors.bounded import ParseLimits
    from connectors.http import HttpLimits
    from connectors.http import make_http
    from connectors.netguard import NetworkPolicy

    limits = HttpLimits(
        connect_timeout=app.config["ECOOP_FETCH_CONNECT_TIMEOUT"],
        read_timeout=app.config["ECOOP_FETCH_READ_TIMEOUT"],
        deadline=app.config["ECOOP_FETCH_DEADLINE"],
        max_bytes=app.config["ECOOP_FETCH_MAX_BYTES"],
    )
    watcher = Watcher(app.config["ECOOP_REGISTRY"]) if watch else None
    return Harvester(
        app.extensions["ecoop.sessions"],
        make_http(),
        limits=limits,
        parse_limits=ParseLimits(
            timeout=app.config["ECOOP_PARSE_TIMEOUT"],
            max_memory=app.config["ECOOP_PARSE_MAX_MB"] * 1024 * 1024,
        ),
        policy=NetworkPolicy(allow=app.config["ECOOP_FETCH_ALLOW"]),
        registry_loader=watcher.poll if watcher else None,
        pool_size=app.config["ECOOP_POOL_SIZE"],
        per_host=app.config["ECOOP_PER_HOST"],
        history=timedelta(days=app.config["ECOOP_RUN_HISTORY_DAYS"]),
    )


@main.command()
@click.option("--cluster", "cluster", help="Only the sources of this cluster (slug).")
@click.option("--source", "source", help="Only this source (cluster/id).")
@click.option(
    "--force",
    is_flag=True,
    help="Ignore validators and unchanged bodies: re-read everything.",
)
@with_appcontext
def harvest(cluster: str | None, source: str | None, force: bool) -> None:
    """Harvest every source once, now, and print a per-source summary."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.getLogger("hub").setLevel(logging.WARNING)  # the table below says it all
    _sync_registry(app)
    with app.extensions["ecoop.sessions"]() as session:
        keys = [
            s.key
            for s in index.list_sources(session)
            if (cluster is None or s.cluster.slug == cluster)
            and (source is None or s.key == source)
        ]
    if not keys:
        raise click.UsageError("no configured source matches --cluster/--source")
    progress = HarvestProgress(len(keys), sys.stderr)
    with (
        metrics.watch_harvest(
            app.extensions["ecoop.sessions"], progress.claimed, progress.finished
        ),
        make_harvester(app) as harvester,
    ):
        summaries = harvester.run(due_only=False, keys=keys, force=force)
    progress.close()
    print_summaries(summaries)
    skipped = len(keys) - len(summaries)
    if skipped:
        click.echo(f"{skipped} source(s) skipped: being harvested by another process")
    sys.exit(1 if any(s.status == "error" for s in summaries) else 0)


@main.command()
@with_appcontext
def status() -> None:
    """Print the health of every source; exit 1 if any is failing or needs attention."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.extensions["ecoop.sessions"]() as session:
        health = listings.list_source_health(session)
    print_health(health)
    sys.exit(1 if any(row.state in ("failing", "attention") for row in health) else 0)


@main.command()
@with_appcontext
def worker() -> None:
    """Run only the harvest scheduler (production: next to gunicorn web processes)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # `kill -USR1 PID` writes every thread's stack to stderr: a stuck worker tells
    # where it is stuck without being stopped.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stop.set())
    harvester = make_harvester(app, watch=True)
    collector.settle()
    sched = scheduler.start(harvester.tick, app.config["ECOOP_TICK_SECONDS"])
    click.echo("worker running; Ctrl+C to stop")
    try:
        # The kernel may hand a signal to any thread, and Python runs its handler in
        # the main thread only when that thread next runs: an endless wait would
        # never see a SIGINT that landed on a pool thread (it hung stops under load).
        while not stop.wait(0.5):
            pass
        logging.getLogger(__name__).info("stopping: finishing the runs held")
    finally:
        sched.shutdown(wait=True)
        harvester.close()


def _serve(app: Flask, host: str, port: int, *, with_scheduler: bool) -> None:
    sched = harvester = None
    if with_scheduler:
        harvester = make_harvester(app, watch=True)
    server = make_server(host, port, app, threaded=True)
    collector.settle()  # before any tick or request runs
    if harvester is not None:
        sched = scheduler.start(harvester.tick, app.config["ECOOP_TICK_SECONDS"])
    click.echo(
        f"e-cooperation hub: open http://{host}:{server.server_port}/", color=False
    )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if sched is not None:
            sched.shutdown(wait=False)
        if harvester is not None:
            harvester.close()  # a tick still running keeps its workers to its end


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--no-scheduler", is_flag=True, help="Serve pages only; harvest elsewhere."
)
@with_appcontext
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Apply migrations, then serve the site with the harvest scheduler
    (embedded default)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hub_db.upgrade(app.extensions["ecoop.engine"])
    _sync_registry(app)
    _serve(
        app,
        host,
        port,
        with_scheduler=app.config["ECOOP_SCHEDULER"] and not no_scheduler,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=int,
    help="Port of the hub (0: any free port).",
)
@click.option(
    "--sites-port",
    default=8401,
    show_default=True,
    type=int,
    help="Port of the sample member sites (0: any free port).",
)
@click.option(
    "--registry",
    default=DEMO_REGISTRY,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def demo(host: str, port: int, sites_port: int, registry: Path) -> None:
    """Run everything offline: sample member sites, a harvest, and the site."""
    from connectors.bounded import FORK_GUARD
    from feeds.samples import SampleSites

    # Their pages are built with lxml in this process, which forks parsing workers.
    sites = SampleSites(port=sites_port, guard=FORK_GUARD.using).start()
    os.environ["ECOOP_DEMO_SITES"] = sites.base_url
    os.environ.setdefault(
        "DATABASE_URL", f"sqlite:///{Path('ecoop-demo.sqlite3').resolve()}"
    )
    # the sample member sites listen on loopback
    app = create_app(
        {"ECOOP_REGISTRY": str(registry), "ECOOP_FETCH_ALLOW": ("127.0.0.1/32",)}
    )
    click.echo(
        f"sample member sites on {sites.base_url}/ "
        f"(database {app.config['DATABASE_URL']})"
    )
    with app.app_context():
        hub_db.upgrade(app.extensions["ecoop.engine"])
        _sync_registry(app)
        with app.extensions["ecoop.sessions"]() as session:
            keys = [source.key for source in index.list_sources(session)]
        with make_harvester(app) as harvester:
            print_summaries(harvester.run(due_only=False, keys=keys))
    try:
        _serve(app, host, port, with_scheduler=True)
    finally:
        sites.stop()
