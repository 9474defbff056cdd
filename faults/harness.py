"""Driving the server as a client does (HTTP) and checking what it stored (read-only SQL).

Each scenario imports files of its own identifiers (a prefix per scenario) with planted bad rows of
every reject kind, breaks something mid-sync, and then `check` compares what the server holds with
what the input says: every good row stored exactly once with the input's values, the rejects exactly
the planted rows, and the counters and logs adding up."""

from __future__ import annotations

import concurrent.futures
import csv
import http.client
import io
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import psycopg
import requests

from faults.cluster import (
    PgBouncer,
    Postgres,
    Process,
    RabbitMQ,
    Redis,
    beat,
    free_port,
    gunicorn,
    python,
    wait_until,
    worker,
)

TOKEN = "faults-token"
SITE = "Faults"
FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
    "CloseDate": "{{Opportunity.Field(CloseDate)}}",
    "CreatedDate": "{{Opportunity.CreatedAt}}",
}
STAGES = ("Prospecting", "qualification", "PROPOSAL", "Negotiation", "Closed Won")
# Planted bad rows, one kind after the other: (what is broken, the reject code).
BAD_KINDS = ("amount", "stage", "name", "duplicate", "empty")
BAD_CODES = {"amount": "ELQ-00032", "stage": "ELQ-00039", "name": "ELQ-00061", "duplicate": "ELQ-00026",
             "empty": "ELQ-00059"}  # fmt: skip


@dataclass
class Dataset:
    """Rows to upload, and what must come of them."""

    prefix: str
    rows: list[dict]
    good: dict[str, dict]  # lower(identifier) -> the row that must be stored
    rejects: dict[int, str]  # record index -> code

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue().encode()


def dataset(
    prefix: str, n: int, *, bad_every: int = 97, start: int = 1, tag: str = "", kinds: tuple[str, ...] = BAD_KINDS
) -> Dataset:
    """`n` rows with identifiers `<prefix>-<start>`... and a bad row of each of `kinds` in turn every
    `bad_every` rows."""
    rows, good, rejects = [], {}, {}
    for i in range(start, start + n):
        index = len(rows) + 1
        row = {
            "OpportunityID": f"{prefix}-{i}",
            "OpportunityName": f'Deal {i} {tag}, "quoted" «ü»',
            "Amount": f"{(i * 37) % 100000}.{i % 100:02d}",
            "Stage": STAGES[i % len(STAGES)],
            "CloseDate": f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
            "CreatedDate": f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:{i % 60:02d}:00Z",
        }
        kind = kinds[(index // bad_every) % len(kinds)] if index % bad_every == 0 and index > 1 else None
        if kind == "amount":
            row["Amount"] = "12,5 EUR"
        elif kind == "stage":
            row["Stage"] = "No such stage"
        elif kind == "name":
            row["OpportunityName"] = ""
        elif kind == "duplicate":
            row["OpportunityID"] = rows[-1]["OpportunityID"].upper()  # the previous (good) row's, in another case
        elif kind == "empty":
            row = dict.fromkeys(FIELDS, "")
        rows.append(row)
        if kind is not None:
            rejects[index] = BAD_CODES[kind]
        else:
            good[row["OpportunityID"].lower()] = row
    return Dataset(prefix, rows, good, rejects)


@dataclass
class Result:
    scenario: str
    rows: int = 0
    stored: int = 0
    rejected: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0  # stored with values that are no input row's
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    data: Dataset | None = None  # the one file a scenario imported (for the checker's self-test)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.lost and not self.duplicated


class Harness:
    def __init__(
        self,
        workdir: Path,
        *,
        chunk_rows: int,
        stall_seconds: int = 8,
        broker: str = "redis",
        pooler: str = "",
        beat: bool = True,
        pg: Postgres | None = None,
        redis: Redis | None = None,
        api_host: str = "127.0.0.1",
    ):
        """`broker`: "redis" or "rabbitmq" (a private node; Redis stays the cache); `pooler`: "" or
        "pgbouncer" (every process reaches PostgreSQL through a private PgBouncer in transaction
        mode; the checks read PostgreSQL directly); `beat`: False runs no beat, so nothing requeues
        a lane whose message a fault lost."""
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.pg = pg or Postgres(workdir)
        self.redis = redis or Redis(workdir)
        self.rabbit = RabbitMQ(workdir) if broker == "rabbitmq" else None
        self.pooler = pooler
        self.bouncer: PgBouncer | None = None
        self.with_beat = beat
        self.port = free_port()
        self.api_host = api_host
        self.base = f"http://{api_host}:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # production mode: a strong key, new each run
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_JSON": "false",
            "BULK_SYNC_CHUNK_ROWS": str(chunk_rows),
            "BULK_SYNC_LANES": "2",
            "BULK_SYNC_FIRST_RANGE_ROWS": str(max(1, chunk_rows // 2)),
            "BULK_SYNC_STALL_SECONDS": str(stall_seconds),
            "BULK_SYNC_RESUME_SECONDS": "2",
        }
        self.env.pop("CACHE_URL", None)
        self.api: Process | None = None
        self.workers: list[Process] = []
        self.beat: Process | None = None
        self._workers_started = 0
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    # --- processes ---------------------------------------------------------------------------

    def up(self) -> None:
        # The RabbitMQ node boots (about 7 s) while PostgreSQL is made and migrated.
        rabbit = None
        if self.rabbit is not None:
            rabbit = concurrent.futures.ThreadPoolExecutor(1).submit(self.rabbit.start)
            self.env["CELERY_BROKER_URL"] = self.rabbit.url
        self.pg.init()
        self.redis.start()
        self.env["DATABASE_URL"], self.env["REDIS_URL"] = self.pg.url, self.redis.url
        if self.pooler == "pgbouncer":
            self.bouncer = PgBouncer(self.workdir, self.pg.port)
            self.bouncer.start()
            self.env["DATABASE_URL"] = self.bouncer.url("faults")
            self.env["DATABASE_POOLER"] = "pgbouncer"
        # One Django start-up for both commands (each costs seconds on a busy machine).
        self.manage(
            "shell", "-c",
            "from django.core.management import call_command as c; c('migrate', '--noinput', verbosity=0); "
            f"c('createsite', {SITE!r}, '--user', 'faults', '--password', 'fault-matrix-pass', '--token', {TOKEN!r})",
        )  # fmt: skip
        if rabbit is not None:
            rabbit.result()
        self.api = gunicorn(self.env, self.port, self.workdir)
        self.api.start()
        self.start_worker()
        if self.with_beat:
            self.beat = beat(self.env, self.workdir)
            self.beat.start()
        wait_until(self.healthy, 60, "the API answering /health")

    def pooled(self) -> str:
        """What PgBouncer says it pooled for our database: its mode and transaction count."""
        if self.bouncer is None:
            return ""
        mode = next(p["pool_mode"] for p in self.bouncer.show("POOLS") if p["database"] == "faults")
        xacts = sum(int(s["total_xact_count"]) for s in self.bouncer.show("STATS") if s["database"] == "faults")
        return f"pgbouncer: pool_mode {mode}, {xacts} transactions pooled"

    def down(self) -> None:
        for proc in [*self.workers, self.beat, self.api]:
            if proc is not None:
                proc.stop(timeout=20)
        self.redis.stop()
        if self.rabbit is not None:
            self.rabbit.destroy()
        if self.bouncer is not None:
            self.bouncer.stop()
        self.pg.destroy()

    def manage(self, *argv: str) -> None:
        import subprocess

        done = subprocess.run(
            [python(), "manage.py", *argv], cwd=self.pg_root(), env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(argv)}: {done.stdout}{done.stderr}")

    @staticmethod
    def pg_root() -> Path:
        from faults.cluster import ROOT

        return ROOT

    def start_worker(self) -> Process:
        self._workers_started += 1
        proc = worker(self.env, self.workdir, self._workers_started)
        proc.start()
        self.workers.append(proc)
        return proc

    def live_workers(self) -> list[Process]:
        return [w for w in self.workers if w.alive()]

    def supervise(self) -> None:
        """What compose's `restart: unless-stopped` does for a worker that exits by itself: celery
        ends on an 'Unrecoverable error' when kombu's Redis transport races a lost connection
        (AttributeError on `conninfo.hostname` while restoring unacked messages, seen here in 1 of 5
        runs of the Redis outage). Called only while waiting for a sync, never while a scenario
        keeps the workers down on purpose."""
        if self.workers and not self.live_workers():
            gone = self.workers[-1]
            code = gone.proc.returncode if gone.proc is not None else None
            print(f"faults: every worker exited (last: {gone.name}, exit code {code}); starting another", flush=True)
            self.start_worker()

    def restart_api(self) -> None:
        self.api.kill()
        self.api = gunicorn(self.env, self.port, self.workdir)
        self.api.start()
        wait_until(self.healthy, 60, "the API back")

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # --- the client's side -------------------------------------------------------------------

    def call(self, method: str, path: str, expect: int | tuple = (200,), **kw) -> requests.Response:
        expect = (expect,) if isinstance(expect, int) else expect
        headers = {**self.headers, **kw.pop("headers", {})}
        response = requests.request(method, f"{self.base}/api/bulk/2.0{path}", headers=headers, timeout=120, **kw)
        if response.status_code not in expect:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response

    def poll(self, path: str) -> dict:
        """GET, riding out the server being away (a fault may be in progress)."""
        deadline = time.monotonic() + 180
        while True:
            try:
                response = requests.get(f"{self.base}/api/bulk/2.0{path}", headers=self.headers, timeout=10)
                if response.status_code == 200:
                    return response.json()
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"GET {path} did not answer 200")
            time.sleep(0.3)

    def definition(self, name: str) -> str:
        body = {"name": name, "fields": FIELDS, "identifierFieldName": "OpportunityID"}
        return self.call("POST", "/opportunities/imports", 201, json=body).json()["uri"]

    def upload(self, uri: str, data: Dataset, key: str | None = None) -> requests.Response:
        headers = {"Content-Type": "text/csv"}
        if key:
            headers["Idempotency-Key"] = key
        return self.call("POST", f"{uri}/data", 204, data=data.csv(), headers=headers)

    def send_partial(self, uri: str, body: bytes, sent: int, close: bool = True, then=None) -> None:
        """POST `body` declaring its full length, but send only its first `sent` bytes; then run
        `then()` (a fault) and/or close the connection without reading an answer."""
        conn = http.client.HTTPConnection(self.api_host, self.port, timeout=30)
        conn.putrequest("POST", f"/api/bulk/2.0{uri}/data")
        for k, v in {**self.headers, "Content-Type": "text/csv", "Content-Length": str(len(body))}.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[:sent])
        time.sleep(0.5)
        if then is not None:
            then()
        if close:
            conn.sock.close()
            conn.close()

    def send_unread(self, uri: str, body: bytes, key: str) -> None:
        """POST the whole body and close without reading the answer (a client that timed out)."""
        conn = http.client.HTTPConnection(self.api_host, self.port, timeout=30)
        headers = {**self.headers, "Content-Type": "text/csv", "Content-Length": str(len(body)), "Idempotency-Key": key}
        conn.request("POST", f"/api/bulk/2.0{uri}/data", body=body, headers=headers)
        conn.sock.close()
        conn.close()

    def sync(self, uri: str) -> str:
        return self.call("POST", "/syncs", 201, json={"syncedInstanceUri": uri}).json()["uri"]

    def progress(self, sync_uri: str) -> dict:
        return self.poll(sync_uri)

    def wait_processed(self, sync_uri: str, fraction: float, total: int) -> None:
        def far_enough():
            self.supervise()
            doc = self.progress(sync_uri)
            return doc["status"] in ("success", "warning", "error") or doc["progress"]["processed"] >= fraction * total

        wait_until(far_enough, 180, f"{sync_uri} {fraction:.0%} processed", interval=0.05)

    def wait_done(self, sync_uri: str, timeout: float = 240) -> dict:
        def ended():
            self.supervise()
            doc = self.progress(sync_uri)
            return doc["status"] in ("success", "warning", "error") and doc

        return wait_until(
            ended,
            timeout,
            f"{sync_uri} ended",
            interval=0.2,
        )

    # --- checking ------------------------------------------------------------------------------

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = on")
            return conn.execute(query, params).fetchall()

    def staged(self, uri: str) -> int:
        definition_id = int(uri.rsplit("/", 1)[1])
        return self.sql("SELECT count(*) FROM bulkapi_stagedrow WHERE definition_id = %s", [definition_id])[0][0]

    def all_pages(self, path: str) -> list[dict]:
        items, offset = [], 0
        while True:
            page = self.poll(f"{path}?limit=1000&offset={offset}")
            items += page["items"]
            if not page["hasMore"]:
                return items
            offset += 1000

    def stored(self, prefix: str) -> list[tuple]:
        return self.sql(
            "SELECT o.external_id, o.name, o.amount, lower(s.name), o.close_date, o.created_at"
            " FROM opportunities_opportunity o JOIN opportunities_stage s ON s.id = o.stage_id"
            " JOIN bulkapi_site t ON t.id = o.site_id WHERE t.name = %s AND o.external_id ILIKE %s",
            [SITE, f"{prefix}-%"],
        )

    def check(self, result: Result, sync_uri: str, data: Dataset, sources: list[Dataset] | None = None) -> dict:
        """Compare the server's state with `data` (or, for overlapping writers, any one of `sources`
        per row); add what is wrong to `result`. Returns the sync document."""
        doc = self.wait_done(sync_uri)
        rejects = self.all_pages(f"{sync_uri}/rejects")
        logs = {log["statusCode"]: log for log in self.all_pages(f"{sync_uri}/logs")}
        p = doc["progress"]
        result.rows += p["total"]
        result.rejected += p["rejected"]
        if doc["status"] not in ("success", "warning"):
            result.problems.append(f"{sync_uri} ended {doc['status']}")
        if not (p["processed"] == p["created"] + p["updated"] + p["rejected"] == p["total"]):
            result.problems.append(f"{sync_uri} counters do not add up: {p}")
        if p["rejected"] != len(rejects):
            result.problems.append(f"{sync_uri} rejected {p['rejected']} but lists {len(rejects)} rejects")
        if (
            logs.get("ELQ-00001", {}).get("count") != p["processed"]
            or logs.get("ELQ-00060", {}).get("count") != p["rejected"]
        ):
            result.problems.append(f"{sync_uri} logs do not match the counters")
        if any(log["severity"] not in ("information", "warning", "error") for log in logs.values()):
            result.problems.append(f"{sync_uri} has a log without an Eloqua severity")
        got = {r["recordIndex"]: r["statusCode"] for r in rejects}
        if got != data.rejects:
            wrong = sorted(set(got.items()) ^ set(data.rejects.items()))[:5]
            result.problems.append(f"{sync_uri} rejects differ from the planted rows: {wrong}")
        self.compare_stored(result, data.prefix, sources or [data])
        return doc

    def compare_stored(self, result: Result, prefix: str, sources: list[Dataset]) -> None:
        expected: dict[str, list[dict]] = {}
        for source in sources:
            for ident, row in source.good.items():
                expected.setdefault(ident, []).append(row)
        seen: dict[str, int] = {}
        for ext, name, amount, stage, close, created in self.stored(prefix):
            ident = ext.lower()
            seen[ident] = seen.get(ident, 0) + 1
            candidates = expected.get(ident)
            if candidates is None:
                result.duplicated += 1  # a record the input never asked for
                continue
            when = created.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            values = (name, amount, stage, close.isoformat() if close else None, when)
            if not any(values == _expected_values(row) for row in candidates):
                result.wrong += 1
                if result.wrong <= 5:
                    result.problems.append(f"{ext} holds {values}, which is no input row's values")
        result.stored += len(seen)
        result.lost += sum(1 for ident in expected if ident not in seen)
        result.duplicated += sum(n - 1 for n in seen.values() if n > 1)


def _expected_values(row: dict) -> tuple:
    created = row["CreatedDate"]
    return (
        row["OpportunityName"],
        Decimal(row["Amount"]),
        row["Stage"].lower(),
        row["CloseDate"],
        f"{created[:10]} {created[11:16]}",
    )
