"""`python -m bench.progress [--rows N]`: what a running chunk's progress report costs per row.

Needs DATABASE_URL (`make bench BENCH_ARGS="--cases progress"`). The opportunity bench file's
valid rows are staged once (as a sync reads them: `bulkapi_stagedrow`, under a definition id no
real definition has); then every range of `--chunk` rows is read by the statement a sync chunk
reads it with (`pipeline.processors.staged_chunk`), with and without the progress report (every
PROGRESS_TICK_ROWS rows, `bulk_progress` sets the session's application_name), alternating, in
one transaction each. The difference is the report's cost: wall time and the PostgreSQL backend's
CPU time, medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import psycopg
from psycopg import sql

from bench import baseline, gen, server
from bench.indexes import backend_cpu
from pipeline.processors import PROGRESS_TICK_ROWS, staged_chunk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
DEFINITION = -15  # staged rows of no definition: no sync of ours ever reads them
LABEL = "bulk-sync:0:0:"  # sync 0 does not exist: nobody reads this progress


def log(msg: str) -> None:
    print(f"bench.progress: {msg}", file=sys.stderr, flush=True)


def stage(conn: psycopg.Connection, path: str) -> tuple[int, int]:
    """The file's rows as staged rows; (first id, last id)."""
    conn.execute("DROP TABLE IF EXISTS bench_stage")
    conn.execute(baseline.STAGE_DDL)
    with (
        conn.cursor() as cur,
        cur.copy("COPY bench_stage FROM STDIN (FORMAT csv, HEADER)") as copy,
        open(path, "rb") as f,
    ):
        while block := f.read(baseline.BLOCK):
            copy.write(block)
    conn.execute("DELETE FROM bulkapi_stagedrow WHERE definition_id = %s", [DEFINITION])
    first, last = conn.execute(
        "WITH s AS (INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)"
        " SELECT %s, %s, to_jsonb(b) FROM bench_stage b RETURNING id) SELECT min(id), max(id) FROM s",
        [DEFINITION, DEFINITION],
    ).fetchone()
    conn.execute("DROP TABLE bench_stage")
    conn.commit()
    conn.execute("VACUUM ANALYZE bulkapi_stagedrow")
    return first, last


def read_all(conn: psycopg.Connection, first: int, last: int, chunk: int, progress: str | None) -> dict:
    """Every range read as a sync chunk reads it, one transaction a range."""
    seconds = cpu = 0.0
    rows = 0
    for lo in range(first - 1, last, chunk):
        query = sql.SQL("SELECT count(*) FROM {} c").format(
            staged_chunk(definition_id=DEFINITION, lo=lo, hi=min(lo + chunk, last), base=lo, progress=progress)
        )
        cpu_before, start = backend_cpu(conn), time.perf_counter()
        with conn.transaction():
            (n,) = conn.execute(query).fetchone()
        seconds += time.perf_counter() - start
        cpu_after = backend_cpu(conn)
        if cpu_before is not None and cpu_after is not None:
            cpu += cpu_after - cpu_before
        rows += n
    return {"rows": rows, "seconds": seconds, "cpu": cpu}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.progress", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    p.add_argument("--chunk", type=int, default=50_000, help="rows a chunk reads (BULK_SYNC_CHUNK_ROWS)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each side (default 5)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    from bench.__main__ import manage

    try:
        manage("migrate", "--noinput")
        expect = gen.cached("opportunities", OUT_DIR, args.rows, "numeric")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET jit = off")  # as inside a sync chunk
            first, last = stage(conn, expect.clean_path)
            log(f"staged {last - first + 1:,} rows")
            runs: dict[str, list[dict]] = {"without": [], "with": []}
            for run in range(args.repeat):
                order = ("without", "with") if run % 2 == 0 else ("with", "without")
                for side in order:
                    runs[side].append(read_all(conn, first, last, args.chunk, LABEL if side == "with" else None))
                    log(f"run {run + 1}: {side:<7} report {runs[side][-1]['seconds']:.2f} s")
            conn.execute("DELETE FROM bulkapi_stagedrow WHERE definition_id = %s", [DEFINITION])
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    rows = runs["with"][0]["rows"]
    if any(r["rows"] != rows for side in runs.values() for r in side):
        log("FAILED: the two sides read different rows")
        return 1
    print(f"\nprogress report, every {PROGRESS_TICK_ROWS:,} rows, while a chunk reads {rows:,} staged rows")
    print(f"({args.chunk:,}-row chunks, medians of {args.repeat} runs each)\n")
    print(f"{'':<22}{'wall s':>10}{'backend CPU s':>16}")
    medians = {}
    for side in ("without", "with"):
        wall = statistics.median(r["seconds"] for r in runs[side])
        cpu = statistics.median(r["cpu"] for r in runs[side])
        medians[side] = (wall, cpu)
        print(f"{side + ' the report':<22}{wall:>10.2f}{cpu:>16.2f}")
    wall = medians["with"][0] - medians["without"][0]
    cpu = medians["with"][1] - medians["without"][1]
    print(f"{'cost':<22}{wall:>10.2f}{cpu:>16.2f}")
    print(f"\ncost per row: {1e6 * wall / rows:.2f} us wall, {1e6 * cpu / rows:.2f} us backend CPU")
    print("(compare with a sync's time per row in the opportunities case: several tens of us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
