"""`python -m faults [--rows N] [--quick] [--scenarios a,b]`: inject faults into a running server and
check that every row a client hands over is stored exactly once or rejected with its reason.

Starts its own PostgreSQL and Redis (so it may stop and restart them), gunicorn, one Celery worker
(2 processes) and beat, as an operator runs them; runs each scenario of `faults.scenarios` on a sync
of `--rows` rows (tens of thousands by default) in 2 lanes; prints a table of the scenarios with the
rows lost and duplicated; shows that its checks fail when an invariant is broken on purpose. Exit
status 0 when every scenario held."""

from __future__ import annotations

import argparse
import os
import sys
import time

from faults.cluster import ROOT
from faults.harness import Harness, Result
from faults.scenarios import DEFAULT_SCENARIOS, SCENARIOS, checker_self_test


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000, help="rows per sync (default 60,000)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="BULK_SYNC_CHUNK_ROWS (default rows / 20)")
    parser.add_argument("--quick", action="store_true", help="the reduced form `make test` runs (2,000 rows)")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help="comma-separated subset")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis", help="Celery's broker")
    parser.add_argument("--pooler", choices=("", "pgbouncer"), default="", help="PgBouncer (transaction mode)")
    parser.add_argument("--no-beat", action="store_true", help="run no beat: a lost message is never resumed")
    args = parser.parse_args(argv)
    rows = 2_000 if args.quick else args.rows
    chunk = args.chunk_rows or max(100, rows // 20)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    workdir = ROOT / ".run" / f"faults-{int(time.time())}-{os.getpid()}"  # two runs at once (make test -n 2)
    # A lane quiet this long is resumed by beat: short in the reduced form (its chunks take well
    # under a second), longer than a chunk of the full one.
    harness = Harness(
        workdir,
        chunk_rows=chunk,
        stall_seconds=4 if args.quick else 8,
        broker=args.broker,
        pooler=args.pooler,
        beat=not args.no_beat,
    )
    results: list[Result] = []
    self_test: list[str] | None = None
    setup = (
        f"broker {args.broker}" + (f", {args.pooler}" if args.pooler else "") + (", no beat" if args.no_beat else "")
    )
    print(f"faults: {rows:,} rows per sync, chunks of {chunk:,} rows, 2 lanes, {setup}; logs in {workdir}", flush=True)
    try:
        harness.up()
        for name in names:
            started = time.monotonic()
            print(f"faults: {name} ...", flush=True)
            try:
                result = SCENARIOS[name](harness, rows)
            except Exception as exc:  # noqa: BLE001 - a scenario that crashes is a failed scenario
                result = Result(name, problems=[f"{type(exc).__name__}: {exc}"])
            result.seconds = time.monotonic() - started
            results.append(result)
            if self_test is None and result.ok and result.data is not None:
                self_test = checker_self_test(harness, result.data, result.data.prefix)
        if pooled := harness.pooled():
            print(f"faults: {pooled}", flush=True)
    finally:
        harness.down()
    report(results, self_test)
    return 0 if results and all(r.ok for r in results) and self_test == [] else 1


def report(results: list[Result], self_test: list[str] | None) -> None:
    header = f"{'scenario':<24} | {'rows':>7} | {'stored':>7} | {'rejected':>8} | {'lost':>4} | {'dup':>4} | {'wrong':>5} | {'s':>5} | result"
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        print(
            f"{r.scenario:<24} | {r.rows:>7,} | {r.stored:>7,} | {r.rejected:>8,} | {r.lost:>4} | {r.duplicated:>4} |"
            f" {r.wrong:>5} |"
            f" {r.seconds:>5.0f} | {'ok' if r.ok else 'FAILED'}"
        )
        for problem in r.problems[:10]:
            print(f"{'':<24}   {problem}")
    if self_test is None:
        print("\nchecker self-test: not run (no scenario passed)")
    elif self_test:
        print("\nchecker self-test FAILED: " + "; ".join(self_test))
    else:
        print("\nchecker self-test: a deleted row and a duplicated row are both caught")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
