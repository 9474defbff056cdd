"""Raw PostgreSQL baselines: COPY into an unlogged table + one INSERT .. ON CONFLICT, per target table.

Two targets, measured in the same run as our server:
- `like`: a table created `LIKE opportunities_opportunity INCLUDING ALL`, i.e. with every index
  of ours (no triggers, no foreign keys);
- `minimal`: the same columns with one unique index on (site_id, external_id), the least a table
  that is upserted by identifier needs.
Each loads the file's valid rows (PostgreSQL's casts would stop at the first bad value), once
creating every row and once updating every row. The values are parsed by PostgreSQL's own casts,
which read every date form the generator writes.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from bench import pgstats

STAGE_DDL = """
CREATE UNLOGGED TABLE bench_stage (
    id text, name text, account_name text, created text, amount text,
    close_date text, currency text, stage text, territory text
)
"""

UPSERT = """
INSERT INTO {table} AS o (site_id, external_id, name, account_name, created_at, amount, close_date,
                          currency, stage_id, territory, updated_at)
SELECT %(site)s, s.id, s.name, s.account_name, COALESCE(s.created::timestamptz, now()), s.amount::numeric,
       s.close_date::date, upper(s.currency), st.id, s.territory, now()
FROM bench_stage s
JOIN (SELECT id, lower(name) AS lname FROM opportunities_stage WHERE site_id = %(site)s) st
  ON st.lname = lower(btrim(s.stage))
ON CONFLICT (site_id, external_id) DO UPDATE SET
    name = EXCLUDED.name, account_name = EXCLUDED.account_name, created_at = EXCLUDED.created_at,
    amount = EXCLUDED.amount, close_date = EXCLUDED.close_date, currency = EXCLUDED.currency,
    stage_id = EXCLUDED.stage_id, territory = EXCLUDED.territory, updated_at = now()
"""

TABLES = {
    "like": "CREATE TABLE bench_like (LIKE opportunities_opportunity INCLUDING ALL)",
    "minimal": (
        "CREATE TABLE bench_minimal (LIKE opportunities_opportunity INCLUDING DEFAULTS INCLUDING IDENTITY);"
        " CREATE UNIQUE INDEX bench_minimal_site_extid ON bench_minimal (site_id, external_id)"
    ),
}
BLOCK = 1024 * 1024


def drop(conn: psycopg.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_stage, bench_like, bench_minimal")
    conn.commit()


def load(conn: psycopg.Connection, csv_path: str, site_id: int, table: str) -> dict:
    """COPY the file into bench_stage and upsert it into `table`: seconds of each, rows, WAL bytes."""
    pgstats.checkpoint(conn)
    lsn = pgstats.wal_lsn(conn)
    postmaster = pgstats.cluster_pid(conn)
    cpu = pgstats.cluster_cpu(postmaster)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE bench_stage")
        with cur.copy("COPY bench_stage FROM STDIN (FORMAT csv, HEADER)") as copy, open(csv_path, "rb") as f:
            while block := f.read(BLOCK):
                copy.write(block)
        t1 = time.perf_counter()
        cur.execute(sql.SQL(UPSERT).format(table=sql.Identifier(table)), {"site": site_id})
        rows = cur.rowcount
    conn.commit()
    t2 = time.perf_counter()
    after = pgstats.cluster_cpu(postmaster)
    return {
        "copy": t1 - t0,
        "insert": t2 - t1,
        "seconds": t2 - t0,
        "rows": rows,
        "wal": pgstats.wal_since(conn, lsn),
        "cpu": after - cpu if after is not None else None,
    }


def run(dsn: str, csv_path: str, site_id: int, expected_rows: int, log=print) -> dict:
    """{table: {case: measurement}} for both tables, create then update. Bench tables are dropped."""
    out: dict = {}
    with psycopg.connect(dsn) as conn:
        # The file's dates without a zone are UTC, and M/D/YYYY is month first (as our server reads them).
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, MDY'")
        try:
            drop(conn)
            conn.execute(STAGE_DDL)
            for table, ddl in TABLES.items():
                conn.execute(ddl)
                conn.commit()
                out[table] = {}
                for case in ("create", "update"):
                    m = load(conn, csv_path, site_id, f"bench_{table}")
                    if m["rows"] != expected_rows:
                        raise RuntimeError(
                            f"baseline {table} {case}: upserted {m['rows']} rows, expected {expected_rows}"
                        )
                    out[table][case] = m
                    log(
                        f"baseline {table} {case}: {m['seconds']:.2f} s (COPY {m['copy']:.2f}, INSERT {m['insert']:.2f})"
                    )
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"bench_{table}")))
                conn.commit()
            return out
        finally:
            conn.rollback()
            drop(conn)
