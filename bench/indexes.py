"""`python -m bench.indexes [--rows N]`: what each index and trigger of the opportunity table costs per row.

Needs DATABASE_URL (`make bench BENCH_ARGS="--cases indexes"`). The valid rows of the opportunity
bench file are COPied once into an unlogged table; then, for each variant of a `LIKE` copy of
opportunities_opportunity (every index; every index but one; every index and our triggers; the
uuid from a time-ordered default), the raw create (INSERT ... ON CONFLICT into the empty table)
and update (the same again) are timed. A variant's cost per row is its difference from the table
with every index: wall time, CPU time of the PostgreSQL backend (steadier than wall time on a
busy machine) and WAL bytes. Variants run in a shuffled order, `--repeat` times; medians are shown.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import psycopg
from psycopg import sql

from bench import baseline, gen, pgstats, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
TABLE = "opportunities_opportunity"

# What each index serves: the queries that need it (README "Benchmarks" discusses each).
SERVES = {
    "pkey": "every join by id (links, rejects, updates by match)",
    "uuid": "REST and links by uuid (/opportunities/{uuid}, /opportunities/{uuid}/contacts)",
    "site_external_id": "ON CONFLICT (site_id, external_id); case-sensitive matches",
    "site_lower_external_id": "case-insensitive identifier matches (the Bulk API default)",
    "stage_id": "deleting a stage (trigger / PROTECT check); REST filter by stage",
    "company_id": "an account's opportunities; setting them null when it is deleted (partial: where set)",
    "owner_id": "an owner's opportunities; setting them null when it is deleted (partial: where set)",
}


def log(msg: str) -> None:
    print(f"bench.indexes: {msg}", file=sys.stderr, flush=True)


def index_names(conn: psycopg.Connection, table: str = TABLE) -> dict[str, str]:
    """The table's indexes by a short name (what they are on): {short: index name}."""
    rows = conn.execute(
        "SELECT c.relname, split_part(pg_get_indexdef(i.indexrelid), ' USING ', 2) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        (table,),
    ).fetchall()
    out = {}
    for name, definition in rows:
        d = definition.lower().split(" where ")[0]
        if name.endswith("_pkey"):
            short = "pkey"
        elif d == "btree (uuid)":
            short = "uuid"
        elif "lower((external_id)" in d:
            short = "site_lower_external_id"
        elif d == "btree (site_id, external_id)":
            short = "site_external_id"
        else:
            short = d.removeprefix("btree (").removesuffix(")")
        out[short] = name
    return out


def backend_cpu(conn: psycopg.Connection) -> float | None:
    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None  # PostgreSQL on another host


def create_variant(conn: psycopg.Connection, variant: str) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_ix")
    conn.execute(sql.SQL("CREATE TABLE bench_ix (LIKE {} INCLUDING ALL)").format(sql.Identifier(TABLE)))
    if variant.startswith("without "):
        name = index_names(conn, "bench_ix")[variant.removeprefix("without ")]
        constraint = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'bench_ix'::regclass AND conindid = %s::regclass",
            (name,),
        ).fetchone()
        if constraint:
            conn.execute(sql.SQL("ALTER TABLE bench_ix DROP CONSTRAINT {}").format(sql.Identifier(constraint[0])))
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    elif variant == "with our triggers":
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {} AFTER {} ON bench_ix REFERENCING NEW TABLE AS new_rows"
                    " FOR EACH STATEMENT EXECUTE FUNCTION opportunities_refs_check()"
                ).format(sql.Identifier(f"bench_ix_refs_{event.lower()}"), sql.SQL(event))
            )
    elif variant == "uuid time-ordered":
        conn.execute("ALTER TABLE bench_ix ALTER COLUMN uuid SET DEFAULT bulk_uuid7()")
    elif variant == "uuid random":
        conn.execute("ALTER TABLE bench_ix ALTER COLUMN uuid SET DEFAULT gen_random_uuid()")
    conn.commit()


def upsert_sql(variant: str) -> sql.Composable:
    text = baseline.UPSERT
    if variant == "without site_external_id":  # no conflict target left: a plain INSERT (create only)
        text = text.split("ON CONFLICT")[0]
    return sql.SQL(text).format(table=sql.Identifier("bench_ix"))


def measure(conn: psycopg.Connection, variant: str, site_id: int, rows: int) -> dict:
    out = {}
    for case in ("create", "update"):
        if case == "update" and variant == "without site_external_id":
            continue
        pgstats.checkpoint(conn)
        lsn = pgstats.wal_lsn(conn)
        cpu = backend_cpu(conn)
        t0 = time.perf_counter()
        cur = conn.execute(upsert_sql(variant), {"site": site_id})
        conn.commit()
        seconds = time.perf_counter() - t0
        if cur.rowcount != rows:
            raise server.BenchError(f"{variant} {case}: {cur.rowcount} rows, expected {rows}")
        after = backend_cpu(conn)
        out[case] = {
            "seconds": seconds,
            "cpu": after - cpu if cpu is not None and after is not None else None,
            "wal": pgstats.wal_since(conn, lsn),
        }
    return out


def uuid_default(conn: psycopg.Connection) -> str:
    (default,) = conn.execute(
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid"
        " AND a.attnum = d.adnum WHERE d.adrelid = %s::regclass AND a.attname = 'uuid'",
        (TABLE,),
    ).fetchone()
    conn.commit()
    return default


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.indexes", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000, help="rows (default 200,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs of every variant (default 3)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    from bench.__main__ import LOGIN, PASSWORD, manage, site_id_for

    try:
        manage("migrate", "--noinput")
        site, user = LOGIN.split("\\")
        manage("createsite", site, "--user", user, "--password", PASSWORD)
        site_id = site_id_for(dsn)
        expect = gen.cached("opportunities", OUT_DIR, args.rows, "numeric")
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute("SET DateStyle = 'ISO, MDY'")
            conn.execute("SET jit = off")
            conn.execute("DROP TABLE IF EXISTS bench_stage, bench_ix")
            conn.execute(baseline.STAGE_DDL)
            with (
                conn.cursor() as cur,
                cur.copy("COPY bench_stage FROM STDIN (FORMAT csv, HEADER)") as copy,
                open(expect.clean_path, "rb") as f,
            ):
                while block := f.read(baseline.BLOCK):
                    copy.write(block)
            conn.commit()
            names = index_names(conn)
            variants = ["every index", *(f"without {n}" for n in sorted(names)), "with our triggers"]
            # The other uuid default, to show what ours saves or costs.
            variants.append("uuid random" if "bulk_uuid7" in uuid_default(conn) else "uuid time-ordered")
            results: dict[str, list[dict]] = {v: [] for v in variants}
            for run in range(args.repeat):
                order = variants[:]
                random.Random(run).shuffle(order)
                for variant in order:
                    create_variant(conn, variant)
                    results[variant].append(measure(conn, variant, site_id, expect.valid))
                    c = results[variant][-1]["create"]
                    log(f"run {run + 1}: {variant:<34} create {c['seconds']:.2f} s")
            conn.execute("DROP TABLE IF EXISTS bench_stage, bench_ix")
            conn.commit()
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    report(results, expect.valid, names)
    return 0


def _median(runs: list[dict], case: str, key: str) -> float | None:
    values = [r[case][key] for r in runs if case in r and r[case][key] is not None]
    return statistics.median(values) if values else None


def report(results: dict[str, list[dict]], n: int, names: dict[str, str]) -> None:
    base = results["every index"]

    def cell(variant: str, case: str, key: str, scale: float) -> str:
        mine, full = _median(results[variant], case, key), _median(base, case, key)
        if mine is None or full is None:
            return f"{'-':>8}"
        return f"{(full - mine) * scale / n:>8.1f}" if variant != "every index" else f"{full * scale / n:>8.1f}"

    lines = [
        "",
        f"Opportunity table: cost per row of each index and trigger ({n:,} rows, median of {len(base)} runs;"
        " 'every index' is the whole cost, the others what that one adds; WAL bytes are exact, times move"
        " by a few us from run to run)",
        f"{'variant':<34} | {'create: wall us':>15} {'CPU us':>8} {'WAL B':>8} | {'update: wall us':>15} {'CPU us':>8}"
        f" {'WAL B':>8} | serves",
    ]
    lines.append("-" * len(lines[-1]))
    for variant, runs in results.items():
        short = variant.removeprefix("without ")
        serves = SERVES.get(short, "") if variant.startswith("without ") else ""
        if variant in ("with our triggers", "uuid time-ordered", "uuid random"):
            sign = -1.0  # these add (or save) cost: show mine - full
            cells = []
            for case in ("create", "update"):
                for key, scale in (("seconds", 1e6), ("cpu", 1e6), ("wal", 1.0)):
                    mine, full = _median(runs, case, key), _median(base, case, key)
                    cells.append(
                        f"{sign * (full - mine) * scale / n:>8.1f}"
                        if mine is not None and full is not None
                        else f"{'-':>8}"
                    )
            serves = {
                "with our triggers": "what our statement triggers (site/stage/company/owner checks) add",
                "uuid time-ordered": "what a bulk_uuid7() default would add (negative: save)",
                "uuid random": "what a random uuid default (gen_random_uuid) would add to bulk_uuid7's",
            }[variant]
        else:
            cells = [
                cell(variant, case, key, scale)
                for case in ("create", "update")
                for key, scale in (("seconds", 1e6), ("cpu", 1e6), ("wal", 1.0))
            ]
        lines.append(
            f"{variant:<34} | {cells[0]:>15} {cells[1]} {cells[2]} | {cells[3]:>15} {cells[4]} {cells[5]} | {serves}"
        )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
