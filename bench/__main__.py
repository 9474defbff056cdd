"""`python -m bench [--rows N]`: opportunity import on files shaped like CRM exports, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL (`make bench` provides throwaway ones, PostgreSQL in durable mode).
For each identifier order (`--orders`, default numeric then random), in one run:
  1. generate (once; cached under .run/bench/) an opportunity CSV of N rows shaped like a CRM
     export, with bad rows of every reject kind (bench/gen.py), and a file of its valid rows;
  2. baselines: COPY the valid rows into an unlogged table + one INSERT .. ON CONFLICT, into a
     `LIKE` copy of our table (all indexes) and into a table with one unique index; create, then
     update every row; WAL bytes of each;
  3. ours: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`; `--workers 2,1` also
     runs the same syncs with -c 1), an import definition, CSV upload in parts of <= 30 MB, sync,
     polled every 0.1 s with Basic auth as an Eloqua client does; create, then update every row.
     Checks the counts and that exactly the bad rows came back as rejects, each with its code.
     Prints WAL bytes, the statements that took longest (pg_stat_statements), peak RSS, the API's
     CPU per poll and the staging table's size on disk.
Exit status: 0 after a complete measurement (targets missed or not), 1 on a functional failure
(HTTP error, wrong counts or rejects), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg

from bench import baseline, gen, pgstats, server
from bench.rss import Sampler, cpu_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
SITE = "Bench"
LOGIN, PASSWORD = "Bench\\bench", "bench-pass"

TARGET_RATIO = 0.5  # of the LIKE baseline, create and update
TARGET_API_MB = 300
TARGET_WORKER_MB = 500
FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "AccountName": "{{Opportunity.Field(AccountName)}}",
    "CreatedDate": "{{Opportunity.CreatedAt}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "CloseDate": "{{Opportunity.Field(CloseDate)}}",
    "Currency": "{{Opportunity.Field(Currency)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
    "Territory": "{{Opportunity.Field(Territory)}}",
}
PG_SETTINGS = (
    "fsync", "synchronous_commit", "full_page_writes", "wal_level", "wal_compression", "shared_buffers",
    "max_wal_size", "checkpoint_timeout",
)  # fmt: skip


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (default 1,000,000)")
    p.add_argument("--orders", default="numeric,random", help="identifier orders to run (default numeric,random)")
    p.add_argument(
        "--workers",
        default="2,1",
        help="worker processes (celery -c) for the first order, the first also for the others (default 2,1)",
    )
    p.add_argument(
        "--auth", choices=("basic", "bearer"), default="basic", help="how the client authenticates (default basic)"
    )
    p.add_argument("--part-mb", type=float, default=30, help="max upload body size in MB (default 30)")
    p.add_argument("--statements", type=int, default=8, help="slowest statements shown per sync (default 8)")
    args = p.parse_args(argv)
    if args.rows < 1:
        p.error("--rows must be >= 1")
    args.orders = [o.strip() for o in args.orders.split(",") if o.strip()]
    if not args.orders or any(o not in ("numeric", "random") for o in args.orders):
        p.error("--orders takes numeric and/or random")
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error("--workers takes a comma-separated list of numbers")
    if not args.workers or min(args.workers) < 1:
        p.error("--workers takes numbers >= 1")
    return args


def manage(*argv: str) -> None:
    cmd = [os.path.join(ROOT, ".venv", "bin", "python"), "manage.py", *argv]
    r = subprocess.run(cmd, cwd=ROOT, env=server.server_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise server.BenchError(f"manage.py {' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def clear_opportunities(dsn: str, site_id: int) -> None:
    """No opportunities of the site (so 'ours create' really creates), and an opportunity table as
    fresh as the baseline's: truncated when it holds only bench rows, else deleted and vacuumed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        (others,) = conn.execute(
            "SELECT count(*) FROM opportunities_opportunity o JOIN bulkapi_site s ON s.id = o.site_id"
            " WHERE s.name NOT IN ('Bench', 'BenchLink', 'BatchBench', 'BenchDeals')"
        ).fetchone()
        if others == 0:
            conn.execute(
                "TRUNCATE opportunities_opportunity, opportunities_opportunity_tags, opportunities_opportunityproject,"
                " linkage_opportunitycontact"
            )
        else:
            conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
            conn.execute("VACUUM opportunities_opportunity")
        conn.execute("ANALYZE opportunities_opportunity")


def site_id_for(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
    if row is None:
        raise server.BenchError(f"site {SITE} not found after createsite")
    return row[0]


def wire_seconds(doc: dict) -> float | None:
    """syncEndedAt - syncStartedAt as recorded by the server."""

    def parse(v: str) -> datetime:
        return datetime.strptime(v[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)

    try:
        return (parse(doc["syncEndedAt"]) - parse(doc["syncStartedAt"])).total_seconds()
    except (KeyError, ValueError, TypeError):
        return None


def run_ours(args, dsn: str, expect: gen.Expect, parts, site_id: int, workers: int) -> dict:
    """Create then update every row through our server with `workers` worker processes."""
    clear_opportunities(dsn, site_id)
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port, worker_processes=workers)
    auth = server.basic(LOGIN, PASSWORD) if args.auth == "basic" else None
    client = server.Client(port, authorization=auth)
    results: dict = {}
    sampler = None
    try:
        log(f"starting gunicorn on 127.0.0.1:{port} (2 workers) and a Celery worker (-c {workers}) ...")
        procs.start()
        sampler = Sampler({"api": procs.procs["api"].pid, "worker": procs.procs["worker"].pid})
        sampler.start()
        server.wait_healthy(client, procs)
        def_uri = server.create_definition(client, FIELDS)
        with psycopg.connect(dsn) as conn:
            for case in ("create", "update"):
                created = expect.valid if case == "create" else 0
                counts = {"total": expect.rows, "rejected": len(expect.rejects), "created": created}
                counts["updated"] = expect.valid - created
                pgstats.checkpoint(conn)
                db0, lsn0 = pgstats.database_bytes(conn), pgstats.wal_lsn(conn)
                postmaster = pgstats.cluster_pid(conn)
                cpu0 = [pgstats.cluster_cpu(postmaster), *(cpu_seconds(p.pid) for p in procs.procs.values())]
                sampler.phase = f"{case}-upload"
                t0 = time.perf_counter()
                each = server.upload(client, def_uri, expect.path, parts, 1)
                t1 = time.perf_counter()
                wal_upload = pgstats.wal_since(conn, lsn0)
                staging = pgstats.relation_bytes(conn, "bulkapi_stagedrow")
                log(
                    f"ours {case}: uploaded {len(parts)} part(s) in {t1 - t0:.2f} s ({', '.join(f'{s:.2f}' for s in each)})"
                )
                pgstats.statements_reset(conn)
                lsn1 = pgstats.wal_lsn(conn)
                api_cpu0, worker_cpu0 = cpu_seconds(procs.procs["api"].pid), cpu_seconds(procs.procs["worker"].pid)
                sampler.phase = f"{case}-sync"
                t1 = time.perf_counter()
                started = time.time()
                sync_uri, doc, polls = server.sync(client, procs, def_uri, counts)
                t2 = time.perf_counter()
                api_cpu = cpu_seconds(procs.procs["api"].pid) - api_cpu0
                worker_cpu = cpu_seconds(procs.procs["worker"].pid) - worker_cpu0
                cpu1 = [pgstats.cluster_cpu(postmaster), *(cpu_seconds(p.pid) for p in procs.procs.values())]
                wal_sync = pgstats.wal_since(conn, lsn1)
                top = pgstats.statements_top(conn, args.statements)
                got = server.rejects(client, sync_uri)
                server.check_rejects(got, expect.rejects, f"ours {case} {sync_uri}")
                results[case] = {
                    "upload": t1 - t0,
                    "sync": t2 - t1,
                    "sync_server": wire_seconds(doc),
                    "seconds": t2 - t0,
                    "wal_upload": wal_upload,
                    "wal_sync": wal_sync,
                    "staging": staging,
                    "db_growth": pgstats.database_bytes(conn) - db0,
                    "connections": pgstats.client_connections(conn),
                    "polls": polls,
                    "api_cpu": api_cpu,
                    "worker_cpu": worker_cpu,
                    "top": top,
                    "rejects": len(got),
                    "lanes": lane_times(procs.log_path("worker"), int(sync_uri.rsplit("/", 1)[1]), started),
                    "cpu": None if cpu0[0] is None else sum(b - a for a, b in zip(cpu0, cpu1, strict=True)),
                    "pg_cpu": None if cpu0[0] is None else cpu1[0] - cpu0[0],
                }
                log(
                    f"ours {case}: {sync_uri} {doc['status']} {doc['progress']} in {t2 - t1:.2f} s; rejects as expected"
                )
        sampler.phase = "end"
        sampler.sample()
    finally:
        if sampler is not None:
            sampler.stop()
        log("stopping gunicorn and the Celery worker ...")
        procs.stop()
    results["rss"] = {
        "api": sampler.peak_sum["api"] / 1024,
        "worker": sampler.peak_sum["worker"] / 1024,
        "phases": {k: v / 1024 for k, v in sampler.phase_peak_sum.items()},
    }
    return results


CHUNK_DONE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\bsync=(\d+)\].* sync chunk done: lane (\d+) range \d+ of \d+, (\d+) rows"
)


def lane_times(log_path: str, sync_id: int, started: float) -> dict[int, dict]:
    """Per lane of the sync, from the worker's log: rows, seconds between its chunk commits (the
    first counted from `started`, epoch seconds), and its largest chunk's rows and seconds."""
    lanes: dict[int, dict] = {}
    last: dict[int, float] = {}
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = CHUNK_DONE.match(line)
            if not m or int(m.group(2)) != sync_id:
                continue
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()  # logged in local time
            lane, rows = int(m.group(3)), int(m.group(4))
            took = at - last.get(lane, started)
            last[lane] = at
            entry = lanes.setdefault(lane, {"rows": 0, "seconds": 0.0, "chunks": 0, "largest": (0, 0.0)})
            entry["rows"] += rows
            entry["seconds"] += took
            entry["chunks"] += 1
            entry["largest"] = max(entry["largest"], (rows, took))
    return lanes


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args, order: str, expect: gen.Expect, parts, base: dict, ours: dict[int, dict], pg: dict) -> None:
    n = expect.rows
    mb = 1_048_576
    first = args.workers[0]
    lines = [
        "",
        f"Opportunity import, identifiers in {order} order: {n:,} rows, CSV {expect.size / mb:.1f} MiB in "
        f"{len(parts)} part(s) <= {args.part_mb:g} MB; {len(expect.rejects):,} bad rows "
        f"({', '.join(f'{c} {k:,}' for c, k in expect.reject_counts().items())}), {expect.valid:,} valid",
        "PostgreSQL: " + " ".join(f"{k}={v}" for k, v in pg.items()),
        f"API: gunicorn --workers 2; worker: celery -c N; sync lanes {os.environ.get('BULK_SYNC_LANES', '2')};"
        f" client auth {args.auth}, polling every {server.POLL_SECONDS:g} s; host CPUs {os.cpu_count()}",
        "Baselines load the valid rows only; ours gets the whole file and rejects the bad rows.",
        "",
    ]
    header = f"{'case':<26} | {'seconds':>8} | {'rows/s':>9} | {'WAL MB':>7} | {'vs LIKE':>22} | vs minimal"
    lines += [header, "-" * len(header)]
    for table in ("like", "minimal"):
        for case in ("create", "update"):
            b = base[table][case]
            lines.append(
                f"{'baseline ' + table + ' ' + case:<26} | {b['seconds']:>8.2f} | {n / b['seconds']:>9,.0f} | "
                f"{b['wal'] / mb:>7,.0f} |"
            )
    for workers, o in ours.items():
        for case in ("create", "update"):
            r = o[case]
            like = base["like"][case]["seconds"] / r["seconds"]
            minimal = base["minimal"][case]["seconds"] / r["seconds"]
            target = (
                f"{like:.2f}x {mark(like >= TARGET_RATIO)} >= {TARGET_RATIO}" if workers == first else f"{like:.2f}x"
            )
            lines.append(
                f"{f'ours {case} (-c {workers})':<26} | {r['seconds']:>8.2f} | {n / r['seconds']:>9,.0f} | "
                f"{(r['wal_upload'] + r['wal_sync']) / mb:>7,.0f} | {target:>22} | {minimal:.2f}x"
            )
    lines += ["", "phases:"]
    for table in ("like", "minimal"):
        for case in ("create", "update"):
            b = base[table][case]
            lines.append(
                f"  baseline {table:<7} {case:<6}  COPY {b['copy']:6.2f} s   INSERT .. ON CONFLICT {b['insert']:6.2f} s"
            )
    for workers, o in ours.items():
        for case in ("create", "update"):
            r = o[case]
            server_s = f"{r['sync_server']:.2f}" if r["sync_server"] is not None else "?"
            lines.append(
                f"  ours -c {workers} {case:<6}  upload {r['upload']:6.2f} s ({r['wal_upload'] / mb:,.0f} MB WAL, staging table "
                f"{r['staging'] / mb:,.0f} MB)   sync {r['sync']:6.2f} s (server {server_s} s; {r['wal_sync'] / mb:,.0f} MB WAL;"
                f" worker CPU {r['worker_cpu']:.1f} s)   database grew {r['db_growth'] / mb:,.0f} MB"
                f"   server connections open {r['connections']}"
            )
    lines += [
        "",
        "CPU seconds (PostgreSQL cluster, and for ours also the API and worker processes; steadier than"
        " wall time on a busy machine):",
    ]
    for table in ("like", "minimal"):
        cells = [
            f"{case} {base[table][case]['cpu']:6.2f}"
            for case in ("create", "update")
            if base[table][case]["cpu"] is not None
        ]
        lines.append(f"  baseline {table:<7} " + "; ".join(cells))
    for workers, o in ours.items():
        cells = []
        for case in ("create", "update"):
            r, like = o[case], base["like"][case]
            if r["cpu"] is not None and like["cpu"] is not None:
                cells.append(
                    f"{case} {r['cpu']:6.2f} (PostgreSQL {r['pg_cpu']:6.2f}; baseline LIKE / ours {like['cpu'] / r['cpu']:.2f}x)"
                )
        lines.append(f"  ours -c {workers}        " + "; ".join(cells))
    if len(ours) > 1:
        lines += ["", "scaling (same syncs, celery -c N):"]
        one = ours.get(min(ours))
        for workers, o in sorted(ours.items()):
            cells = []
            for case in ("create", "update"):
                speed = one[case]["sync"] / o[case]["sync"]
                cells.append(
                    f"{case} sync {o[case]['sync']:6.2f} s ({n / o[case]['sync']:>9,.0f} rows/s, {speed:.2f}x of -c {min(ours)})"
                )
            lines.append(f"  -c {workers}: " + "; ".join(cells))
    lines += ["", "lanes (from the worker's log: rows, seconds from one chunk's commit to the next, largest chunk):"]
    for workers, o in ours.items():
        for case in ("create", "update"):
            cells = [
                f"lane {lane}: {e['rows']:,} rows in {e['chunks']} chunks, {e['seconds']:.1f} s"
                f" ({e['rows'] / max(e['seconds'], 1e-9):,.0f} rows/s; largest {e['largest'][0]:,} rows in {e['largest'][1]:.1f} s)"
                for lane, e in sorted(o[case]["lanes"].items())
            ]
            lines.append(f"  -c {workers} {case:<6} " + "; ".join(cells))
    lines += ["", f"polling with {args.auth} auth (API CPU while the sync ran, per poll):"]
    for workers, o in ours.items():
        for case in ("create", "update"):
            r = o[case]
            lines.append(
                f"  -c {workers} {case:<6} {r['polls']:>5} polls, API CPU {r['api_cpu']:6.2f} s = "
                f"{1000 * r['api_cpu'] / max(1, r['polls']):6.1f} ms a poll"
            )
    lines += ["", "peak RSS (sum over each process tree, sampled every 0.2 s):"]
    for workers, o in ours.items():
        rss = o["rss"]
        lines.append(
            f"  -c {workers}: API {rss['api']:6.1f} MB (< {TARGET_API_MB} {mark(rss['api'] < TARGET_API_MB)}), "
            f"worker {rss['worker']:6.1f} MB (< {TARGET_WORKER_MB} {mark(rss['worker'] < TARGET_WORKER_MB)})"
        )
    lines += ["", "slowest statements of our syncs (pg_stat_statements; ms total, calls, rows, WAL MB):"]
    for workers, o in ours.items():
        for case in ("create", "update"):
            lines.append(f"  -c {workers} {case}:")
            for s in o[case]["top"]:
                lines.append(
                    f"    {s['ms']:9,.0f} ms {s['calls']:>6} {s['rows']:>9,} {s['wal'] / mb:>7,.0f}  {s['query'][:110]}"
                )
    print("\n".join(lines), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    try:
        log("migrate + createsite ...")
        manage("migrate", "--noinput")
        login_site, login_user = LOGIN.split("\\")
        manage("createsite", login_site, "--user", login_user, "--password", PASSWORD, "--token", server.TOKEN)
        site_id = site_id_for(dsn)
        with psycopg.connect(dsn) as conn:
            pg = pgstats.settings(conn, PG_SETTINGS)
        for k, order in enumerate(args.orders):
            t = time.perf_counter()
            expect = gen.cached("opportunities", OUT_DIR, args.rows, order)
            parts = gen.split_parts(expect.path, int(args.part_mb * 1_000_000))
            log(
                f"{expect.path}: {expect.rows:,} rows, {expect.size / 1048576:.1f} MiB ({time.perf_counter() - t:.1f} s)"
            )
            clear_opportunities(dsn, site_id)
            base = baseline.run(dsn, expect.clean_path, site_id, expect.valid, log=log)
            ours = {}
            for workers in args.workers if k == 0 else args.workers[:1]:
                ours[workers] = run_ours(args, dsn, expect, parts, site_id, workers)
            report(args, order, expect, parts, base, ours, pg)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
