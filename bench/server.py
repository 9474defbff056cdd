"""Our server end to end: gunicorn + one Celery worker as subprocesses, driven over HTTP."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from bench.rss import start_time, tree


def bench_dsn(log) -> str | None:
    """DATABASE_URL for a bench case, or None (after saying why) when it or REDIS_URL is unset.

    Also makes SIGTERM (e.g. from with-services.sh) unwind like Ctrl-C, so servers get stopped."""
    dsn = os.environ.get("DATABASE_URL")
    if not dsn or not os.environ.get("REDIS_URL"):
        log("DATABASE_URL and REDIS_URL must be set (run it as `make bench`)")
        return None

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    return dsn


TOKEN = "bench-token"
API = "/api/bulk/2.0"
FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "AccountName": "{{Opportunity.Field(AccountName)}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "CloseDate": "{{Opportunity.Field(CloseDate)}}",
    "Currency": "{{Opportunity.Field(Currency)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
    "Territory": "{{Opportunity.Field(Territory)}}",
}
SEND_BLOCK = 256 * 1024
# How often a bench polls a sync or job: often enough that polling adds little to our side's time
# (the baseline is timed exactly); 0.5 s added 0.25 s on average.
POLL_SECONDS = 0.1
# One per bench run, shared by every process of it (DJANGO_DEBUG is false: a weak key is refused).
SECRET_KEY = secrets.token_urlsafe(50)


class BenchError(Exception):
    """A functional failure: the server did not do what it should."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=SECRET_KEY,  # production mode needs a strong key
        LOG_JSON="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    return env


class Processes:
    """gunicorn + celery worker (`worker_processes` pool processes), logs under `log_dir`;
    always stop() them. `env` adds to the servers' environment."""

    def __init__(self, root: str, log_dir: str, port: int, worker_processes: int = 2, env: dict | None = None):
        self.root, self.log_dir, self.port = root, log_dir, port
        self.worker_processes = worker_processes
        self.env = {**server_env(), **(env or {})}
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}
        self._logs = []

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(os.path.join(self.log_dir, f"{name}.log"), "wb")  # noqa: SIM115 (closed in stop())
        self._logs.append(log)
        self.argv[name] = argv
        self.procs[name] = subprocess.Popen(
            argv, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )

    def start(self) -> None:
        venv = os.path.join(self.root, ".venv", "bin")
        self._start(
            "api",
            [f"{venv}/gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--timeout", "300", "--worker-class", "config.gunicorn.JsonErrorWorker"],
        )  # fmt: skip
        self._start(
            "worker",
            [
                f"{venv}/celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "celery,bulk",
                "-c",
                str(self.worker_processes),
                "--loglevel=INFO",
            ],  # fmt: skip
        )

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise BenchError(f"{name} exited with status {p.returncode}; see {self.log_path(name)}")

    def logs_ready(self, name: str) -> bool:
        """Does process `name` log when it is ready (a Celery worker at INFO level)?"""
        return "--loglevel=INFO" in self.argv.get(name, [])

    def log_path(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            with open(self.log_path(name), "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        # Remember every descendant first: whatever survives the polite stop is killed by pid.
        family = [(pid, start_time(pid)) for p in self.procs.values() if p.poll() is None for pid in tree(p.pid)]
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for pid, started in family:
            if started is not None and start_time(pid) == started:  # still that process, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        for log in self._logs:
            log.close()


def basic(login: str, password: str) -> str:
    """The Authorization header an Eloqua client sends on every call."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


class Client:
    def __init__(self, port: int, authorization: str | None = None):
        self.port = port
        self.headers = {"Authorization": authorization or f"Bearer {TOKEN}", "Accept": "application/json"}
        self.requests = 0

    def _conn(self, timeout: float = 600) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 600):
        self.requests += 1
        conn = self._conn(timeout)
        try:
            headers = dict(self.headers)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            return resp.status, payload
        finally:
            conn.close()

    def expect(self, status: int, method: str, path: str, body: dict | None = None):
        got, payload = self.request(method, path, body)
        if got != status:
            raise BenchError(f"{method} {path} -> {got} (expected {status}): {str(payload)[:2000]}")
        return payload

    def health(self) -> bool:
        try:
            conn = self._conn(2)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return resp.status == 200
        except OSError:
            return False

    def upload_part(self, def_uri: str, csv_path: str, header: bytes, start: int, end: int) -> None:
        """POST header + csv[start:end] as text/csv, streamed from the file."""
        conn = self._conn()
        try:
            conn.putrequest("POST", f"{API}{def_uri}/data")
            for k, v in self.headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Type", "text/csv")
            conn.putheader("Content-Length", str(len(header) + end - start))
            conn.endheaders()
            conn.send(header)
            with open(csv_path, "rb") as f:
                f.seek(start)
                left = end - start
                while left:
                    block = f.read(min(SEND_BLOCK, left))
                    if not block:
                        raise BenchError("CSV file shrank while uploading")
                    conn.send(block)
                    left -= len(block)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 204:
                raise BenchError(
                    f"POST {API}{def_uri}/data [{start}:{end}] -> {resp.status}: {raw[:2000].decode('utf-8', 'replace')}"
                )
        finally:
            conn.close()


def wait_healthy(client: Client, procs: Processes, timeout: float = 90) -> None:
    """The API answers /health and the worker said it is ready (its first task does not wait for
    it to boot: that took 3 s, inside a measured sync)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        if client.health() and (not procs.logs_ready("worker") or " ready." in procs.tail("worker", 200)):
            return
        time.sleep(0.25)
    raise BenchError(
        f"API or worker not ready within {timeout:.0f} s; see {procs.log_path('api')}, {procs.log_path('worker')}"
    )


def create_definition(client: Client, fields: dict | None = None) -> str:
    body = {"name": "bench", "fields": fields or FIELDS, "identifierFieldName": "OpportunityID"}
    payload = client.expect(201, "POST", f"{API}/opportunities/imports", body)
    uri = payload.get("uri", "") if isinstance(payload, dict) else ""
    if not uri.startswith("/opportunities/imports/"):
        raise BenchError(f"import definition: unexpected uri in {payload}")
    return uri


def upload(client: Client, def_uri: str, csv_path: str, parts: list[tuple[int, int]], concurrency: int) -> list[float]:
    """POST every part; returns each part's seconds (sequential uploads only, else [])."""
    with open(csv_path, "rb") as f:
        header = f.readline()
    if concurrency <= 1:
        seconds = []
        for start, end in parts:
            t0 = time.perf_counter()
            client.upload_part(def_uri, csv_path, header, start, end)
            seconds.append(time.perf_counter() - t0)
        return seconds
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(client.upload_part, def_uri, csv_path, header, s, e) for s, e in parts]
        for fut in futures:
            fut.result()
    return []


def sync(client: Client, procs: Processes, def_uri: str, expected: dict | None = None):
    """Start a sync and poll it every POLL_SECONDS until it ends; returns (uri, final document,
    polls). With `expected` ({"total": n, "created": n, ...}), a sync that ended otherwise than
    `success`/`warning` with exactly those counts is a BenchError."""
    payload = client.expect(201, "POST", f"{API}/syncs", {"syncedInstanceUri": def_uri})
    uri = payload.get("uri", "") if isinstance(payload, dict) else ""
    if not uri.startswith("/syncs/"):
        raise BenchError(f"sync: unexpected uri in {payload}")
    polls = 0
    while True:
        time.sleep(POLL_SECONDS)
        procs.check_alive()
        doc = client.expect(200, "GET", f"{API}{uri}")
        polls += 1
        if doc.get("status") in ("success", "warning", "error"):
            break
    progress = doc.get("progress") or {}
    if expected is not None:
        wrong = {k: (progress.get(k), v) for k, v in expected.items() if progress.get(k) != v}
        want = "warning" if expected.get("rejected") else "success"
        if doc["status"] != want or wrong:
            _, logs = client.request("GET", f"{API}{uri}/logs")
            raise BenchError(
                f"sync {uri} ended {doc['status']} (expected {want}) with progress {progress};"
                f" (got, expected): {wrong}\nsync logs: {json.dumps(logs, indent=1)[:4000]}\n"
                f"--- worker log tail ---\n{procs.tail('worker')}"
            )
    return uri, doc, polls


def rejects(client: Client, sync_uri: str) -> dict[int, str]:
    """recordIndex -> statusCode of every reject of the sync (paged 1,000 at a time)."""
    out: dict[int, str] = {}
    offset = 0
    while True:
        page = client.expect(200, "GET", f"{API}{sync_uri}/rejects?limit=1000&offset={offset}&totalResults=false")
        for item in page["items"]:
            out[item["recordIndex"]] = item["statusCode"]
        if not page.get("hasMore"):
            return out
        offset += len(page["items"])


def check_rejects(got: dict[int, str], want: dict[int, str], what: str) -> None:
    """BenchError unless exactly the expected rows came back, each with its code."""
    if got == want:
        return
    missing = sorted(set(want) - set(got))[:10]
    extra = sorted(set(got) - set(want))[:10]
    wrong = sorted(i for i in set(got) & set(want) if got[i] != want[i])[:10]
    raise BenchError(
        f"{what}: {len(got)} rejects, expected {len(want)}; missing rows {missing}, unexpected rows "
        f"{[(i, got[i]) for i in extra]}, wrong codes {[(i, got[i], want[i]) for i in wrong]}"
    )
