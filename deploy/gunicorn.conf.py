"""gunicorn settings of the site (deploy/ecoop-web.service): settings checked before
the first fork, the hub's log format for gunicorn's own lines, Prometheus multiprocess
files tidied, each worker's loaded site frozen out of the garbage collector. Install
as /etc/ecoop/gunicorn.conf.py; workers and bind are on the command line (see
docs/production.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hub.logs import dict_config
from hub.settings import load_settings

# A misspelt or malformed setting stops gunicorn here, with the list of problems,
# instead of every worker failing to boot.
settings = load_settings(os.environ)

wsgi_app = "hub:create_app()"
logconfig_dict = dict_config(settings["ECOOP_LOG_FORMAT"], settings["ECOOP_LOG_LEVEL"])
accesslog = None  # nginx keeps the access log; latency is in /metrics
timeout = 30  # a page that takes longer is a bug: the worker is recycled
graceful_timeout = 20
# Workers are recycled now and then: a safety net, as every cache of theirs is bounded
# (the page cache at 32 MB). Rarely: a new worker boots for ~1 s and renders its pages
# cold while requests queue behind it. Recycled every 2,000 requests, the search page
# under load served 3,100-3,300 req/s with a p99 of 116-218 ms, against 4,450-4,690
# and 2.5-2.7 ms without (bench/README.md, Site); at 100,000, bench/site.py's run
# still met one (a p99 of 222 ms). A million: every ~7 min at 2,300 req/s a worker.
max_requests = 1_000_000
max_requests_jitter = 100_000
forwarded_allow_ips = "127.0.0.1,::1"  # nginx on the same machine
control_socket_disable = True  # gunicorn >= 25.1: systemd's HUP and TERM suffice

_MULTIPROC = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server: Any) -> None:
    """prometheus_client: the directory must hold no files of an earlier run."""
    if _MULTIPROC:
        directory = Path(_MULTIPROC)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def post_worker_init(worker: Any) -> None:
    """The site is loaded: its start-up objects leave the collector's full passes
    (hub.collector.settle; ~70 ms each otherwise, inside some request)."""
    from hub import collector

    collector.settle()


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client: a dead worker's live gauges must not be summed."""
    if _MULTIPROC:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
