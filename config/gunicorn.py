"""gunicorn, configured: hooks for /metrics, and workers whose own error answers are JSON.

    gunicorn config.wsgi:application --config python:config.gunicorn --worker-class config.gunicorn.JsonErrorWorker

Hooks (`--config python:config.gunicorn`; options stay on the command line): with
PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker process writes its metrics to files there and
/metrics adds them all up, so a scrape sees the whole server, whichever worker answers it. The
directory must start empty on every start, and a dead worker's gauges must be dropped.

Workers whose own error answers are JSON in our error shape:

gunicorn answers some requests before the application sees them: a request line over
`--limit-request-line` (414), headers over `--limit-request-field_size`/`--limit-request-fields`
(431), a malformed request line, header or chunk (400), an unsupported transfer coding (501). It
writes those as small HTML pages; these workers write `{"code", "message", "failures"}` instead,
keeping gunicorn's classification, status and logging. Use them wherever gunicorn starts:

    gunicorn config.wsgi:application --worker-class config.gunicorn.JsonErrorWorker
    gunicorn config.wsgi:application --worker-class config.gunicorn.JsonErrorThreadWorker --threads 4
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

# Status -> (code, field): what part of the request gunicorn refused.
_CODES = {
    400: ("bad_request", "request"),
    403: ("forbidden", "request"),
    414: ("uri_too_long", "url"),
    417: ("expectation_failed", "Expect"),
    431: ("header_too_large", "headers"),
    500: ("server_error", "request"),
    501: ("not_implemented", "Transfer-Encoding"),
}


def json_error(status_int: int, reason: str, mesg: str) -> bytes:
    """The whole HTTP answer gunicorn sends for one of its own errors, as JSON."""
    code, field = _CODES.get(status_int, ("error", "request"))
    body: dict = {"code": code, "message": reason + "."}
    if mesg:
        body["failures"] = [{"field": field, "constraint": mesg[:1000]}]
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"X-Request-Id: {uuid.uuid4()}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + payload


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, json_error(status_int, reason, mesg))


class _JsonErrors:
    """gunicorn's Worker.handle_error writes through `gunicorn.util.write_error`: ours, in this process."""

    def init_process(self):
        util.write_error = write_json_error
        super().init_process()


class JsonErrorWorker(_JsonErrors, SyncWorker):
    pass


class JsonErrorThreadWorker(_JsonErrors, ThreadWorker):
    pass


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
