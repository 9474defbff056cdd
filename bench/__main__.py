"""`python -m bench [--rows N]`: opportunity import throughput and memory, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL (`make bench` provides throwaway ones). In one run:
  1. generate an opportunity CSV of N rows under .run/bench/;
  2. baseline: psycopg COPY into an unlogged staging table + one INSERT .. ON CONFLICT into a
     copy of opportunities_opportunity, once creating and once updating every row;
  3. ours: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`), import definition, CSV upload in
     parts of <= 30 MB, sync, poll to the end -- once creating, once updating every row --
     while sampling the peak RSS of both process trees every 0.2 s.
Exit status: 0 after a complete measurement (targets missed or not), 1 on a functional
failure (HTTP error, sync not `success`, wrong counts), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg

from . import baseline, gen, server
from .rss import Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
SITE = "Bench"

TARGET_RATIO = 0.6
TARGET_API_MB = 300
TARGET_WORKER_MB = 500


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (default 1,000,000)")
    p.add_argument("--part-mb", type=float, default=30, help="max upload body size in MB (default 30)")
    p.add_argument("--upload-concurrency", type=int, default=1, choices=(1, 2), help="parts posted at once (default 1)")
    args = p.parse_args(argv)
    if args.rows < 1:
        p.error("--rows must be >= 1")
    return args


def manage(*argv: str) -> None:
    cmd = [os.path.join(ROOT, ".venv", "bin", "python"), "manage.py", *argv]
    r = subprocess.run(cmd, cwd=ROOT, env=server.server_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise server.BenchError(f"manage.py {' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def prepare_site(dsn: str) -> int:
    """The Bench site's id; its opportunities from an earlier run are removed so that
    'ours create' really creates."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
        if row is None:
            raise server.BenchError(f"site {SITE} not found after createsite")
        site_id = row[0]
        (n,) = conn.execute("SELECT count(*) FROM opportunities_opportunity WHERE site_id = %s", (site_id,)).fetchone()
        if n:
            log(f"site {SITE} already holds {n} opportunities (earlier run?): deleting them")
            try:
                conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
                conn.commit()
            except psycopg.Error as exc:
                raise server.BenchError(
                    f"could not clear site {SITE}'s opportunities ({exc}); use a fresh database"
                ) from exc
        return site_id


def wire_seconds(doc: dict) -> float | None:
    """syncEndedAt - syncStartedAt as recorded by the server."""

    def parse(v: str) -> datetime:
        return datetime.strptime(v[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)

    try:
        return (parse(doc["syncEndedAt"]) - parse(doc["syncStartedAt"])).total_seconds()
    except (KeyError, ValueError, TypeError):
        return None


def run_ours(args, csv_path: str, parts, results: dict, sampler_box: list) -> None:
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port)
    client = server.Client(port)
    sampler = None
    try:
        log(f"starting gunicorn on 127.0.0.1:{port} (2 workers) and a Celery worker (-c 2) ...")
        procs.start()
        sampler = Sampler({"api": procs.procs["api"].pid, "worker": procs.procs["worker"].pid})
        sampler_box.append(sampler)
        sampler.start()
        server.wait_healthy(client, procs)
        def_uri = server.create_definition(client)
        log(f"import definition {def_uri}")
        for case, counter in (("create", "created"), ("update", "updated")):
            sampler.phase = f"{case}-upload"
            t0 = time.perf_counter()
            each = server.upload(client, def_uri, csv_path, parts, args.upload_concurrency)
            t1 = time.perf_counter()
            each_s = f" ({', '.join(f'{s:.2f}' for s in each)})" if each else ""
            log(f"ours {case}: uploaded {len(parts)} part(s) in {t1 - t0:.2f} s{each_s}; syncing ...")
            sampler.phase = f"{case}-sync"
            sync_uri, doc = server.sync(client, procs, def_uri, args.rows)
            t2 = time.perf_counter()
            progress = doc["progress"]
            if progress.get(counter) != args.rows:
                raise server.BenchError(f"ours {case}: {sync_uri} progress {progress}: expected {counter}={args.rows}")
            results[case] = {
                "upload": t1 - t0,
                "sync": t2 - t1,
                "sync_server": wire_seconds(doc),
                "seconds": t2 - t0,
                "sync_uri": sync_uri,
                "progress": progress,
            }
            log(f"ours {case}: {sync_uri} {doc['status']} {progress} in {t2 - t1:.2f} s")
        sampler.phase = "end"
        sampler.sample()
    finally:
        if sampler is not None:
            sampler.stop()
        log("stopping gunicorn and the Celery worker ...")
        procs.stop()


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args, csv_size: int, parts, base: dict, ours: dict, sampler: Sampler) -> None:
    n = args.rows
    mb = 1024 * 1024
    lines = []
    lines.append("")
    lines.append(
        f"Opportunity import benchmark: {n:,} rows, CSV {csv_size / mb:.1f} MiB, "
        f"{len(parts)} upload part(s) <= {args.part_mb:g} MB, uploads {'sequential' if args.upload_concurrency == 1 else '2 in parallel'}"
    )
    lines.append(
        "API: gunicorn --workers 2 (sync); worker: celery -c 2 (prefork), sync lanes: "
        + os.environ.get("BULK_SYNC_LANES", "2")
        + "; host CPUs: "
        + str(os.cpu_count())
    )
    lines.append("")
    header = f"{'case':<18} | {'rows':>9} | {'seconds':>8} | {'rows/s':>9} | ratio vs baseline"
    lines.append(header)
    lines.append("-" * len(header))
    for case in ("create", "update"):
        b = base[case]
        lines.append(f"{'baseline ' + case:<18} | {n:>9,} | {b['seconds']:>8.2f} | {n / b['seconds']:>9,.0f} | 1.00x")
    for case in ("create", "update"):
        o = ours[case]
        ratio = (n / o["seconds"]) / (n / base[case]["seconds"])
        lines.append(
            f"{'ours ' + case:<18} | {n:>9,} | {o['seconds']:>8.2f} | {n / o['seconds']:>9,.0f} | "
            f"{ratio:.2f}x  target >= {TARGET_RATIO}x {mark(ratio >= TARGET_RATIO)}"
        )
    lines.append("")
    lines.append("phases (seconds):")
    for case in ("create", "update"):
        b = base[case]
        lines.append(f"  baseline {case:<6}  COPY {b['copy']:7.2f}   INSERT..ON CONFLICT {b['insert']:7.2f}")
    for case in ("create", "update"):
        o = ours[case]
        server_s = f"{o['sync_server']:.2f}" if o["sync_server"] is not None else "?"
        lines.append(
            f"  ours {case:<6}      upload {o['upload']:7.2f} ({n / o['upload']:,.0f} rows/s)   "
            f"sync {o['sync']:7.2f} ({n / o['sync']:,.0f} rows/s; server syncStartedAt..syncEndedAt {server_s}; "
            f"polled every {server.POLL_SECONDS:g} s)"
        )
    lines.append("")
    api_sum, api_max = sampler.peak_sum["api"] / 1024, sampler.peak_single["api"] / 1024
    wrk_sum, wrk_max = sampler.peak_sum["worker"] / 1024, sampler.peak_single["worker"] / 1024
    lines.append("peak RSS (VmRSS sampled every 0.2 s over the whole run, process tree incl. children):")
    lines.append(
        f"  API    sum master+workers {api_sum:7.1f} MB  (largest single process {api_max:6.1f} MB, "
        f"{sampler.peak_procs['api']} procs)  target sum < {TARGET_API_MB} MB {mark(api_sum < TARGET_API_MB)}"
    )
    lines.append(
        f"  worker sum main+pool child {wrk_sum:6.1f} MB  (largest single process {wrk_max:6.1f} MB, "
        f"{sampler.peak_procs['worker']} procs)  target sum < {TARGET_WORKER_MB} MB {mark(wrk_sum < TARGET_WORKER_MB)}"
    )
    by_phase = []
    for phase in ("create-upload", "create-sync", "update-upload", "update-sync"):
        a = sampler.phase_peak_sum.get(("api", phase), 0) / 1024
        w = sampler.phase_peak_sum.get(("worker", phase), 0) / 1024
        by_phase.append(f"{phase} api {a:.0f}/worker {w:.0f}")
    lines.append("  per phase (sum MB): " + "; ".join(by_phase))
    print("\n".join(lines), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2

    os.makedirs(OUT_DIR, exist_ok=True)
    csv_path = os.path.join(OUT_DIR, f"opportunities-{args.rows}.csv")
    sampler_box: list = []
    ours: dict = {}
    try:
        t = time.perf_counter()
        size = gen.generate(csv_path, args.rows)
        parts = gen.split_parts(csv_path, int(args.part_mb * 1_000_000))
        log(f"generated {csv_path} ({args.rows:,} rows, {size / 1048576:.1f} MiB) in {time.perf_counter() - t:.2f} s")

        log("migrate + createsite ...")
        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", "bench", "--password", "bench-pass", "--token", server.TOKEN)
        site_id = prepare_site(dsn)

        log("baseline (psycopg COPY + INSERT .. ON CONFLICT) ...")
        base = baseline.run(dsn, csv_path, site_id, args.rows)
        for case in ("create", "update"):
            log(f"baseline {case}: {base[case]['seconds']:.2f} s")

        run_ours(args, csv_path, parts, ours, sampler_box)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    report(args, size, parts, base, ours, sampler_box[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
