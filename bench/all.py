"""`make bench`: every benchmark case, one after another, each against its raw-SQL baseline.

python -m bench.all                         # all cases at their issue sizes
python -m bench.all --rows 20000            # all cases, small (a smoke run)
python -m bench.all --cases opportunities,upsert
python -m bench.all --cases opportunities --rows 5000000 --orders numeric --workers 2,1
                                            # options the opportunities case takes (python -m bench -h) go to it
"""

from __future__ import annotations

import argparse
import importlib
import sys

CASES = {
    "opportunities": "bench.__main__",  # issue 4: Bulk API opportunity import, create and update
    "linkage": "bench.linkage",  # issue 5: 1M linkage rows by email against 1M contacts
    "batch": "bench.batch",  # issue 6: 1M-row batch CSV upload
    "upsert": "bench.upsert",  # issue 7: 100-deal upserts from 4 concurrent clients
    "indexes": "bench.indexes",  # issue 15: cost per row of each opportunity index and trigger
    "progress": "bench.progress",  # issue 17: cost per row of a running chunk's progress report
    "purge": "bench.purge",  # issue 26: retention purge of expired staged rows, DELETE vs partition drop
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--rows", type=int, help="rows for every case (default: each case's issue size)")
    args, extra = parser.parse_known_args(argv)
    failed = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        if name not in CASES:
            parser.error(f"unknown case {name!r}")
        print(f"\n=== bench: {name} ===", flush=True)
        case_argv = ["--rows", str(args.rows)] if args.rows else []
        if name == "opportunities":
            case_argv += extra
        elif extra and "opportunities" not in args.cases:
            parser.error(f"unknown options {extra} (only the opportunities case takes more)")
        if importlib.import_module(CASES[name]).main(case_argv) != 0:
            failed.append(name)
    if failed:
        print(f"\nfunctional failure in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
