"""Running it for real: strict settings, the deploy/ files, and the production
topology on PostgreSQL (gunicorn web workers beside `ecoop worker` processes)."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from feeds.samples import SampleSites
from feeds.samples import is_live
from feeds.samples import sample_offers
from hub.cli import main
from hub.models import HarvestRun
from hub.models import Offer
from hub.models import Source
from hub.registry import load
from hub.settings import SETTINGS
from hub.settings import SettingsError
from hub.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# --- settings -----------------------------------------------------------------------


def test_a_misspelt_setting_fails_at_start_and_names_the_right_one() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"ECOOP_POOL_SIZ": "8", "ECOOP_TICK_SECONDS": "often"})
    assert caught.value.problems == [
        "environment: unknown setting ECOOP_POOL_SIZ (did you mean ECOOP_POOL_SIZE?)",
        "environment: setting ECOOP_TICK_SECONDS: could not convert string to "
        "float: 'often'",
    ]


def test_variables_that_are_not_settings_pass() -> None:
    settings = load_settings(
        {
            "ECOOP_DEMO_SITES": "http://127.0.0.1:8401",
            "ECOOP_TEST_PG_URL": "postgresql+psycopg://x",
            "ECOOP_REQUIRE_PG": "1",
            "PATH": "/usr/bin",
        }
    )
    assert settings["ECOOP_POOL_SIZE"] == 4


def test_the_settings_file_is_read_under_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "ecoop.env"
    file.write_text(
        "# comment\n\nECOOP_POOL_SIZE=8\nECOOP_LOG_FORMAT = 'json'\n"
        'SECRET_KEY="s3cret with spaces"\nECOOP_TICK_SECONDS=10\n',
        encoding="utf-8",
    )
    settings = load_settings(
        {"ECOOP_SETTINGS_FILE": str(file), "ECOOP_TICK_SECONDS": "5"}
    )
    assert settings["ECOOP_POOL_SIZE"] == 8
    assert settings["ECOOP_LOG_FORMAT"] == "json"
    assert settings["SECRET_KEY"] == "s3cret with spaces"
    assert settings["ECOOP_TICK_SECONDS"] == 5.0  # the environment wins


def test_a_bad_settings_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "ecoop.env"
    file.write_text(
        "ECOOP_POOL_SIZE=8\nexport DATABASE_URL=x\nECOOP_LOG_FORMT=json\n"
        "ECOOP_PER_HOST=0\nPROMETHEUS_MULTIPROC_DIR=/run/x\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as caught:
        load_settings({"ECOOP_SETTINGS_FILE": str(file)})
    assert caught.value.problems == [
        f"{file}:2: expected NAME=value",
        f"{file}:3: unknown setting ECOOP_LOG_FORMT (did you mean ECOOP_LOG_FORMAT?)",
        f"{file}:5: unknown setting PROMETHEUS_MULTIPROC_DIR",
        f"{file}:4: setting ECOOP_PER_HOST: '0' must be positive",
    ]
    missing = tmp_path / "missing.env"
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        load_settings({"ECOOP_SETTINGS_FILE": str(missing)})


def test_ecoop_refuses_to_start_on_bad_settings() -> None:
    result = CliRunner().invoke(main, ["status"], env={"ECOOP_LOG_FORMAT": "xml"})
    assert result.exit_code == 2
    assert result.output == (
        "ecoop: settings refused:\n"
        "environment: setting ECOOP_LOG_FORMAT: 'xml' is not one of text, json\n"
    )


# --- deploy/ ------------------------------------------------------------------------


def test_the_example_env_file_is_a_valid_settings_file_naming_every_setting() -> None:
    example = DEPLOY / "ecoop.env.example"
    settings = load_settings({"ECOOP_SETTINGS_FILE": str(example)})
    assert settings["ECOOP_LOG_FORMAT"] == "json"
    assert settings["DATABASE_URL"].startswith("postgresql+psycopg://")
    text = example.read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    missing = {s.name for s in SETTINGS} - named - {"ECOOP_SETTINGS_FILE"}
    assert not missing, f"add {sorted(missing)} to deploy/ecoop.env.example"
    assert "ECOOP_SCHEDULER=false" in (DEPLOY / "ecoop-web.service").read_text()


def test_the_units_run_the_documented_commands() -> None:
    web = (DEPLOY / "ecoop-web.service").read_text(encoding="utf-8")
    worker = (DEPLOY / "ecoop-worker.service").read_text(encoding="utf-8")
    assert "--config /etc/ecoop/gunicorn.conf.py" in web
    assert '"hub:create_app()"' in web
    assert "ExecStart=/opt/ecoop/venv/bin/ecoop worker" in worker
    assert "KillSignal=SIGINT" in worker  # finish the held runs, keep no lease
    guide = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    for command in ("ecoop db upgrade", "ecoop clusters check", "/readyz", "/metrics"):
        assert command in guide


# --- the proof on PostgreSQL --------------------------------------------------------


class Outage:
    """A loopback TCP relay to PostgreSQL that the test can cut and restore: the
    database "stops" for the processes behind it, the shared server never does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again
        listener.listen()
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with _quietly():
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while listener is self._listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with _quietly():
        while data := source.recv(65536):
            sink.sendall(data)
    with _quietly():
        sink.shutdown(socket.SHUT_WR)


class _quietly:  # noqa: N801 - a context manager used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, OSError)


class SlowRelay:
    """The sample member sites behind a relay that can be told to stall, so a worker
    can be caught holding a lease mid-harvest."""

    def __init__(self, sites: SampleSites) -> None:
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if relay.stall.is_set():
                    relay.stalled.set()
                    relay.release.wait(10)
                request = urllib.request.Request(sites.url(self.path))
                for name in ("If-None-Match", "If-Modified-Since", "Accept"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    upstream = urllib.request.urlopen(request, timeout=5)
                except urllib.error.HTTPError as e:
                    upstream = e
                body = upstream.read()
                with _quietly():
                    self.send_response(upstream.status)
                    for name in ("Content-Type", "ETag", "Last-Modified"):
                        if upstream.headers.get(name):
                            self.send_header(name, upstream.headers[name])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(
    what: str,
    check: Callable[[], Any],
    seconds: float = 20,
    alive: dict[Path, subprocess.Popen[str]] | None = None,
) -> Any:
    """Poll ``check`` until it gives something true; fail with the log of any process
    in ``alive`` that exits meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        for log, process in (alive or {}).items():
            if process.poll() is not None:
                pytest.fail(f"{log.name} exited:\n{log.read_text(encoding='utf-8')}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w", encoding="utf-8") as stream:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stream,
            text=True,
        )


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of ``log`` as JSON; a line cut by a killed process is left out."""
    text = log.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # ecoop worker: finish and let go
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop(process: subprocess.Popen[str], log: Path) -> None:
    """SIGINT, as systemd stops a worker; one that outlives 15 s is asked for its
    threads' stacks (SIGUSR1, faulthandler; native ones too where py-spy is
    installed) and the test fails with its log."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        native = ""
        spy = Path(sys.executable).with_name("py-spy")
        if spy.exists():
            native = subprocess.run(
                [str(spy), "dump", "--native", "--pid", str(process.pid)],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        process.wait()
        text = log.read_text(encoding="utf-8")
        pytest.fail(f"{log.name} did not stop:\n{text}\n{native}")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_production_topology_on_postgresql(
    db_url: str,
    sample_sites: SampleSites,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
) -> None:
    if importlib.util.find_spec("gunicorn") is None:
        pytest.fail("gunicorn is missing: pip install -e '.[test]'")
    relay = SlowRelay(sample_sites)
    url = sa.make_url(db_url)
    outage = Outage((url.host or "127.0.0.1", url.port or 5432))
    outage.restore()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ECOOP_REGISTRY": str(ROOT / "config" / "demo.yaml"),
        "ECOOP_DEMO_SITES": relay.base_url,
        "ECOOP_FETCH_ALLOW": "127.0.0.1/32",
        "ECOOP_LOG_FORMAT": "json",
        "ECOOP_TICK_SECONDS": "0.3",
        # Loopback member sites answer at once: short fetch limits let a worker that
        # is told to stop finish its held runs (a fetch cut by the relay's closing
        # waits the read timeout) well within the 15 s it is given.
        "ECOOP_FETCH_READ_TIMEOUT": "3",
        "ECOOP_FETCH_DEADLINE": "6",
        "PYTHONUNBUFFERED": "1",
    }
    engine = sa.create_engine(db_url)
    try:
        # Migrations first, as docs/production.md says.
        upgrade = subprocess.run(
            [sys.executable, "-m", "hub", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        assert upgrade.stdout.startswith("database at revision ")

        web_log = tmp_path / "web.log"
        web_env = {
            **env,
            "DATABASE_URL": url.set(
                host="127.0.0.1", port=outage.port
            ).render_as_string(hide_password=False),
            "ECOOP_SCHEDULER": "false",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        }
        processes.append(
            spawn(
                [
                    "-m",
                    "gunicorn",
                    "--config",
                    str(DEPLOY / "gunicorn.conf.py"),
                    "--bind",
                    "127.0.0.1:0",
                    "--workers",
                    "2",
                    "hub:create_app()",
                ],
                web_env,
                web_log,
            )
        )
        worker_logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
        workers = [spawn(["-m", "hub", "worker"], env, log) for log in worker_logs]
        processes.extend(workers)

        alive = {web_log: processes[0], **dict(zip(worker_logs, workers, strict=True))}
        site = wait_for(
            "gunicorn to listen",
            lambda: (
                (
                    m := re.search(
                        r"Listening at: (http://127\.0\.0\.1:\d+)",
                        web_log.read_text(encoding="utf-8"),
                    )
                )
                and m[1]
            ),
            alive=alive,
        )
        http = requests.Session()

        def offers_shown() -> bool:
            found = [
                http.get(f"{site}/en/offers/", params={"q": q}, timeout=5)
                for q in ("spawacz elk", "zaliuzes")
            ]
            return all(page.ok for page in found) and (
                "Spawacz MIG/MAG – Ełk" in found[0].text
                and "Medinės žaliuzės" in found[1].text
            )

        wait_for("offers on the site", offers_shown, alive=alive)

        def runs() -> list[tuple[str, str, str | None, str | None]]:
            with engine.connect() as db:
                return [
                    tuple(row)
                    for row in db.execute(
                        sa.select(
                            Source.key,
                            HarvestRun.status,
                            HarvestRun.error_class,
                            HarvestRun.owner,
                        )
                        .join(Source, Source.id == HarvestRun.source_id)
                        .order_by(HarvestRun.id)
                    )
                ]

        def per_source() -> dict[str, int]:
            counts: dict[str, int] = {}
            for key, status, _, _ in runs():
                if status != "running":
                    counts[key] = counts.get(key, 0) + 1
            return counts

        keys = {source.key: 1 for source in load(ROOT / "config" / "demo.yaml").sources}
        time.sleep(1.2)  # four more ticks of each worker: nothing is due for an hour
        assert per_source() == keys

        # Due again: harvested once more, by one of the two workers.
        with engine.begin() as db:
            db.execute(sa.update(Source).values(next_check_at=sa.func.now()))
        wait_for("a second round", lambda: per_source() == {k: 2 for k in keys})
        time.sleep(1.2)
        assert per_source() == {k: 2 for k in keys}
        assert {status for _, status, _, _ in runs()} <= {
            "ok",
            "unchanged",
            "not_modified",
        }

        # A worker killed mid-harvest loses nothing: its lease expires to the other.
        relay.stall.set()
        with engine.begin() as db:
            db.execute(
                sa.update(Source)
                .where(Source.key == "medienospartneriai/offers")
                .values(next_check_at=sa.func.now())
            )

        def holder() -> str | None:
            with engine.connect() as db:
                return db.scalar(
                    sa.select(Source.lease_owner).where(
                        Source.key == "medienospartneriai/offers"
                    )
                )

        wait_for("a worker to fetch the stalled source", relay.stalled.is_set)
        owner = holder()  # its run is recorded before the fetch starts
        assert owner is not None
        victim = next(w for w in workers if owner.endswith(f":{w.pid}"))
        victim.kill()
        victim.wait(timeout=10)
        with engine.begin() as db:  # ten minutes pass: the lease runs out
            db.execute(
                sa.update(Source)
                .where(Source.key == "medienospartneriai/offers")
                .values(lease_until=sa.func.now() - sa.text("interval '1 second'"))
            )
        relay.stall.clear()
        relay.release.set()
        wait_for(
            "the other worker to take the source over",
            lambda: per_source()["medienospartneriai/offers"] == 4,
        )
        wood = [r for r in runs() if r[0] == "medienospartneriai/offers"]
        assert wood[-2][1:3] == ("error", "timeout") and wood[-2][3] == owner
        assert wood[-1][1] in ("ok", "unchanged", "not_modified")
        assert wood[-1][3] != owner
        with engine.connect() as db:
            active = db.scalar(
                sa.select(sa.func.count())
                .select_from(Offer)
                .join(Source, Source.id == Offer.source_id)
                .where(Offer.status == "active", Source.key.endswith("/offers"))
            )
        now = sample_sites.clock()
        samples = [o for site in sample_offers(now).values() for o in site]
        assert active == sum(1 for o in samples if is_live(o, now))
        assert offers_shown()

        # Metrics: harvest figures from the index, latency summed over both workers.
        for _ in range(10):
            assert http.get(f"{site}/pl/", timeout=5).ok
        scrape = http.get(f"{site}/metrics", timeout=5).text
        assert re.search(
            r'^ecoop_http_request_duration_seconds_count\{method="GET",'
            r'route="/<lang>/",status="200"\} 10\.0$',
            scrape,
            re.MULTILINE,
        ), scrape
        assert re.search(
            r'^ecoop_harvest_runs_total\{outcome="error",'
            r'source="medienospartneriai/offers"\} 1\.0$',
            scrape,
            re.MULTILINE,
        ), scrape

        # Readiness follows the database: cut, refused, restored.
        assert http.get(f"{site}/readyz", timeout=5).status_code == 200
        outage.cut()
        unready = http.get(f"{site}/readyz", timeout=10)
        assert unready.status_code == 503
        assert not unready.json()["checks"]["database"]["ok"]
        assert http.get(f"{site}/healthz", timeout=5).status_code == 200
        outage.restore()
        wait_for(
            "ready again",
            lambda: http.get(f"{site}/readyz", timeout=10).status_code == 200,
            seconds=10,
        )
        assert offers_shown()  # the pools reconnected
    finally:
        relay.close()
        outage.cut()
        engine.dispose()

    # Logs: JSON lines; each harvest line names its source and run.
    for log, process in alive.items():
        stop(process, log)
    harvested = [
        entry
        for log in worker_logs
        for entry in json_lines(log)
        if entry["message"].startswith("harvested ")
    ]
    assert harvested and all(e["source"] and e["run_id"] for e in harvested)
    assert json_lines(web_log)  # gunicorn's own lines in the same format
