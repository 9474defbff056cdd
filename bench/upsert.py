"""`python -m bench.upsert [--rows N]`: deal upsert throughput and latency, ours vs raw SQL.

Needs DATABASE_URL and REDIS_URL. In one run:
  1. migrate, create the site `BenchDeals` with 200 accounts (deals name them by domain);
  2. ours: gunicorn (--web-workers, default 4) + one Celery worker; 4 client threads POST
     /api/v1/deals with 100 deals per request, first creating N deals, then updating all of them;
  3. baseline: 4 psycopg connections run one INSERT .. ON CONFLICT DO UPDATE per 100 of the same
     rows (stage, owner and account ids already resolved) into a copy of opportunities_opportunity.
Reports deals/s, p50/p99 latency per 100-deal request, and ours / baseline. Target: p99 < 300 ms.
Exit status: 0 after a complete measurement, 1 on a functional failure, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from bench import server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
SITE = "BenchDeals"
TOKEN = "bench-deals-token"
BATCH = 100
ACCOUNTS = 200
TARGET_P99_MS = 300

BASELINE_SQL = """
INSERT INTO bench_deal_opp AS o (site_id, external_id, name, amount, stage_id, open_date, close_date,
                                 owner_name, owner_id, currency, company_id, account_name)
SELECT %(site)s, v.external_id, v.name, v.amount, v.stage_id, v.open_date, v.close_date,
       v.owner_name, v.owner_id, v.currency, v.company_id, v.account_name
FROM jsonb_to_recordset(%(rows)s::jsonb) AS v(external_id text, name text, amount numeric, stage_id bigint,
     open_date date, close_date date, owner_name text, owner_id bigint, currency text, company_id bigint,
     account_name text)
ORDER BY v.external_id
ON CONFLICT (site_id, external_id) DO UPDATE SET
    name = EXCLUDED.name, amount = EXCLUDED.amount, stage_id = EXCLUDED.stage_id,
    open_date = EXCLUDED.open_date, close_date = EXCLUDED.close_date, owner_name = EXCLUDED.owner_name,
    owner_id = EXCLUDED.owner_id, currency = EXCLUDED.currency, company_id = EXCLUDED.company_id,
    account_name = EXCLUDED.account_name, updated_at = now()
"""


def log(msg: str) -> None:
    print(f"bench.upsert: {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.upsert", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000, help="deals (default 20,000; 100 per request)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    args = p.parse_args(argv)
    if args.rows < BATCH:
        p.error(f"--rows must be >= {BATCH}")
    return args


def deal(i: int, version: int) -> dict:
    return {
        "externalDealId": f"deal-{i:08d}",
        "name": f"Deal {i} v{version}",
        "amount": round(1000 + i * 1.25 + version, 2),
        "stageId": f"stage-{i % 6}",
        "stageLabel": f"Bench stage {i % 6}",
        "pipelineId": f"pipe-{i % 2}",
        "pipelineLabel": f"Pipeline {i % 2}",
        "startDate": "2026-01-05T09:30:00Z",
        "closedDate": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "ownerId": f"owner-{i % 25}",
        "ownerName": f"Owner {i % 25}",
        "ownerEmail": f"owner{i % 25}@bench.example",
        "dealCurrencyCode": ("USD", "EUR", "GBP")[i % 3],
        "associatedAccounts": [{"domain": f"https://www.company{i % (ACCOUNTS + 50)}.example/", "name": "Co"}],
    }


def batches(n: int, version: int) -> list[list[dict]]:
    return [[deal(i, version) for i in range(start, min(n, start + BATCH))] for start in range(0, n, BATCH)]


def manage(*argv: str) -> None:
    cmd = [os.path.join(ROOT, ".venv", "bin", "python"), "manage.py", *argv]
    r = subprocess.run(cmd, cwd=ROOT, env=server.server_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise server.BenchError(f"manage.py {' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def prepare_site(dsn: str) -> int:
    """The site's id, emptied of earlier runs' deals, with ACCOUNTS accounts to match by domain."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
        if row is None:
            raise server.BenchError(f"site {SITE} not found after createsite")
        site_id = row[0]
        conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM contacts_account WHERE site_id = %s", (site_id,))
        conn.execute(
            "INSERT INTO contacts_account (site_id, name, domain) "
            "SELECT %s, 'Company ' || g, 'company' || g || '.example' FROM generate_series(0, %s) g",
            (site_id, ACCOUNTS - 1),
        )
        conn.commit()
        return site_id


class WebProcesses(server.Processes):
    """server.Processes with a configurable number of gunicorn workers."""

    def __init__(self, root: str, log_dir: str, port: int, web_workers: int):
        super().__init__(root, log_dir, port)
        self.web_workers = web_workers

    def start(self) -> None:
        venv = os.path.join(self.root, ".venv", "bin")
        self._start(
            "api",
            [f"{venv}/gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.web_workers), "--timeout", "300"],
        )  # fmt: skip
        self._start(
            "worker",
            [f"{venv}/celery", "-A", "config", "worker", "-Q", "celery,bulk", "-c", "1", "--loglevel=WARNING"],
        )


def run_parallel(work: list, clients: int, fn) -> tuple[float, list[float]]:
    """Run fn(item) for every item on `clients` threads; (wall seconds, per-item latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(item):
        t0 = time.perf_counter()
        fn(item)
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for fut in [pool.submit(timed, item) for item in work]:
            fut.result()
    return time.perf_counter() - t0, latencies


def run_ours(args, results: dict) -> None:
    port = server.free_port()
    procs = WebProcesses(ROOT, OUT_DIR, port, args.web_workers)
    client = server.Client(port)
    client.headers = {"X-Api-Key": TOKEN, "Accept": "application/json"}
    try:
        log(f"starting gunicorn on 127.0.0.1:{port} ({args.web_workers} workers) and a Celery worker ...")
        procs.start()
        server.wait_healthy(client, procs)
        # Warm up every gunicorn worker (imports, DB connection, first queries) outside the measurement.
        warm = [[deal(args.rows + 1 + w * BATCH + i, 0) for i in range(BATCH)] for w in range(args.web_workers * 3)]
        run_parallel(warm, args.web_workers, lambda body: client.expect(200, "POST", "/api/v1/deals", {"deals": body}))

        for case, version, action in (("create", 1, "created"), ("update", 2, "updated")):

            def post(body, action=action, case=case):
                payload = client.expect(200, "POST", "/api/v1/deals", {"deals": body})
                summary = payload["summary"]
                if summary["failed"] or {r["action"] for r in payload["results"]} != {action}:
                    raise server.BenchError(f"ours {case}: unexpected results {json.dumps(payload)[:1500]}")

            seconds, lat = run_parallel(batches(args.rows, version), args.clients, post)
            results[case] = {"seconds": seconds, "latencies": lat}
            log(f"ours {case}: {args.rows:,} deals in {seconds:.2f} s")
    finally:
        log("stopping gunicorn and the Celery worker ...")
        procs.stop()


def baseline_rows(conn, site_id: int, n: int, version: int) -> list[list[dict]]:
    """The same deals as plain rows, with the ids our run resolved (stages, owners, accounts)."""
    stages = dict(conn.execute("SELECT external_id, id FROM opportunities_stage WHERE site_id = %s", (site_id,)))
    owners = dict(conn.execute("SELECT external_id, id FROM opportunities_owner WHERE site_id = %s", (site_id,)))
    accounts = dict(conn.execute("SELECT domain, id FROM contacts_account WHERE site_id = %s", (site_id,)))
    out = []
    for batch in batches(n, version):
        rows = []
        for d in batch:
            domain = d["associatedAccounts"][0]["domain"].split("//www.")[1].rstrip("/")
            rows.append(
                {
                    "external_id": d["externalDealId"],
                    "name": d["name"],
                    "amount": d["amount"],
                    "stage_id": stages[d["stageId"]],
                    "open_date": d["startDate"][:10],
                    "close_date": d["closedDate"],
                    "owner_name": d["ownerName"],
                    "owner_id": owners[d["ownerId"]],
                    "currency": d["dealCurrencyCode"],
                    "company_id": accounts.get(domain),
                    "account_name": "Co",
                }
            )
        out.append(rows)
    return out


def run_baseline(args, dsn: str, site_id: int, results: dict) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_deal_opp")
        conn.execute("CREATE TABLE bench_deal_opp (LIKE opportunities_opportunity INCLUDING ALL)")
        conn.commit()
        work = {v: baseline_rows(conn, site_id, args.rows, v) for v in (1, 2)}
    local = threading.local()
    conns = []

    def upsert(rows):
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(dsn)
            conns.append(local.conn)
        with local.conn.transaction():
            local.conn.execute(BASELINE_SQL, {"site": site_id, "rows": json.dumps(rows)})

    try:
        for case, version in (("create", 1), ("update", 2)):
            seconds, lat = run_parallel(work[version], args.clients, upsert)
            results[case] = {"seconds": seconds, "latencies": lat}
            log(f"baseline {case}: {args.rows:,} rows in {seconds:.2f} s")
        with psycopg.connect(dsn) as conn:
            (count,) = conn.execute("SELECT count(*) FROM bench_deal_opp").fetchone()
        if count != args.rows:
            raise server.BenchError(f"baseline: bench_deal_opp holds {count} rows, expected {args.rows}")
    finally:
        for c in conns:
            c.close()
        with psycopg.connect(dsn) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_deal_opp")


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(args, ours: dict, base: dict) -> None:
    n = args.rows
    lines = [
        "",
        f"Deal upsert benchmark: {n:,} deals, {BATCH} per request, {args.clients} concurrent clients; "
        f"gunicorn --workers {args.web_workers} (sync); host CPUs: {os.cpu_count()}",
        "",
    ]
    header = f"{'case':<16} | {'deals':>7} | {'seconds':>7} | {'deals/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | ratio"
    lines += [header, "-" * len(header)]
    for case in ("create", "update"):
        for who, res in (("baseline", base[case]), ("ours", ours[case])):
            rate = n / res["seconds"]
            p50, p99 = pct(res["latencies"], 50) * 1000, pct(res["latencies"], 99) * 1000
            ratio = rate / (n / base[case]["seconds"])
            extra = ""
            if who == "ours":
                extra = f"  p99 target < {TARGET_P99_MS} ms {'PASS' if p99 < TARGET_P99_MS else 'MISS'}"
            lines.append(
                f"{who + ' ' + case:<16} | {n:>7,} | {res['seconds']:>7.2f} | {rate:>8,.0f} | {p50:>7.1f} | "
                f"{p99:>7.1f} | {ratio:.2f}x{extra}"
            )
    lines.append("")
    lines.append("ours: HTTP POST /api/v1/deals end to end (auth, validation, lookups, one INSERT .. ON CONFLICT);")
    lines.append("baseline: one raw INSERT .. ON CONFLICT per 100 pre-resolved rows over psycopg, same concurrency.")
    print("\n".join(lines), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    ours: dict = {}
    base: dict = {}
    try:
        log("migrate + createsite ...")
        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", "bench", "--password", "bench-pass", "--token", TOKEN)
        site_id = prepare_site(dsn)
        run_ours(args, ours)
        log("baseline (psycopg INSERT .. ON CONFLICT per 100 rows) ...")
        run_baseline(args, dsn, site_id, base)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    report(args, ours, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
