"""Raw PostgreSQL baseline: COPY into an unlogged staging table + one INSERT .. ON CONFLICT."""

from __future__ import annotations

import time

import psycopg

STAGE_DDL = """
CREATE UNLOGGED TABLE bench_stage (
    id text, name text, account_name text, amount text,
    close_date text, currency text, stage text, territory text
)
"""

UPSERT = """
INSERT INTO bench_opp (site_id, external_id, name, account_name, amount, close_date,
                       currency, stage_id, territory, created_at, updated_at)
SELECT %(site)s, s.id, s.name, s.account_name, s.amount::numeric, s.close_date::date,
       s.currency, st.id, s.territory, now(), now()
FROM bench_stage s
JOIN opportunities_stage st ON st.site_id = %(site)s AND lower(st.name) = lower(s.stage)
ON CONFLICT (site_id, external_id) DO UPDATE SET
    name = EXCLUDED.name,
    account_name = EXCLUDED.account_name,
    amount = EXCLUDED.amount,
    close_date = EXCLUDED.close_date,
    currency = EXCLUDED.currency,
    stage_id = EXCLUDED.stage_id,
    territory = EXCLUDED.territory,
    updated_at = now()
"""

BLOCK = 1024 * 1024


def drop(conn: psycopg.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_stage")
    conn.execute("DROP TABLE IF EXISTS bench_opp")
    conn.commit()


def _load(conn: psycopg.Connection, csv_path: str, site_id: int) -> tuple[float, float, int]:
    """COPY the file into bench_stage and upsert into bench_opp; (copy s, insert s, rows)."""
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE bench_stage")
        with cur.copy("COPY bench_stage FROM STDIN (FORMAT csv, HEADER)") as copy, open(csv_path, "rb") as f:
            while block := f.read(BLOCK):
                copy.write(block)
        t1 = time.perf_counter()
        cur.execute(UPSERT, {"site": site_id})
        rows = cur.rowcount
    conn.commit()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, rows


def run(dsn: str, csv_path: str, site_id: int, expected_rows: int) -> dict:
    """Baseline create (empty target) then update (same rows again). Bench tables are dropped."""
    with psycopg.connect(dsn) as conn:
        try:
            drop(conn)
            conn.execute(STAGE_DDL)
            conn.execute("CREATE TABLE bench_opp (LIKE opportunities_opportunity INCLUDING ALL)")
            conn.commit()
            out = {}
            for case in ("create", "update"):
                copy_s, insert_s, rows = _load(conn, csv_path, site_id)
                if rows != expected_rows:
                    raise RuntimeError(f"baseline {case}: INSERT affected {rows} rows, expected {expected_rows}")
                out[case] = {"copy": copy_s, "insert": insert_s, "seconds": copy_s + insert_s, "rows": rows}
            (count,) = conn.execute("SELECT count(*) FROM bench_opp").fetchone()
            if count != expected_rows:
                raise RuntimeError(f"baseline: bench_opp holds {count} rows, expected {expected_rows}")
            return out
        finally:
            conn.rollback()
            drop(conn)
