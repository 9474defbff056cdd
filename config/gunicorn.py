"""Gunicorn hooks (`gunicorn -c python:config.gunicorn ...`; options stay on the command line).

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker process writes its metrics to files there
and /metrics adds them all up, so a scrape sees the whole server, whichever worker answers it. The
directory must start empty on every start, and a dead worker's gauges must be dropped.
"""

import os
from pathlib import Path


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
