"""`python -m bench.batch [--rows N]`: the one-shot batch CSV upload, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL. In one run:
  1. generate (once; cached) a batch CSV of N rows shaped like real uploads (people who come back,
     mixed letter case, phones as people write them, every accepted time form, unpadded
     References; bench/gen.py) and a copy with bad rows of every kind;
  2. ours, the bad copy: the upload must be a 400 naming exactly the bad rows (validation time);
  3. baseline: psycopg COPY into an unlogged table, then one INSERT of the opportunities (stage join,
     missing stages created) into a copy of opportunities_opportunity, one INSERT of the contacts
     (by e-mail) and one of the links, into copies of those tables; WAL bytes;
  4. ours, the valid file: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`); POST the
     file as multipart to /api/v1/{siteId}/opportunity/upload/batch (validation happens inside that
     request), poll /batch/{jobId}/status with Basic auth until it ends, while sampling the peak
     RSS of both process trees; WAL bytes, slowest statements.
Prints validation (upload request) seconds, end-to-end rows/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import psycopg
from psycopg import sql

from bench import gen, pgstats, server
from bench.rss import Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench-batch")  # own dir: other benches write .run/bench/*.log
SITE = "BatchBench"
USER, PASSWORD, TOKEN = "bench", "bench-pass", "batch-bench-token"
TARGET_RATIO = 0.4
TARGET_API_MB = 300
TARGET_WORKER_MB = 500


def log(msg: str) -> None:
    print(f"bench.batch: {msg}", file=sys.stderr, flush=True)


BASE_DDL = """
DROP TABLE IF EXISTS bb_stage, bb_stages, bb_opp, bb_contact, bb_link;
CREATE UNLOGGED TABLE bb_stage (n bigserial, dt text, cur text, val text, stage text, email text, phone text,
                               raid text, payload text, l1 text, l2 text, ref text, props text);
CREATE TABLE bb_stages (LIKE opportunities_stage INCLUDING ALL);
INSERT INTO bb_stages SELECT * FROM opportunities_stage WHERE site_id = %(site)s;
-- the copy's id sequence starts at 1: new stages must get ids after the copied ones
SELECT setval(pg_get_serial_sequence('bb_stages', 'id'), (SELECT max(id) FROM opportunities_stage));
CREATE TABLE bb_opp (LIKE opportunities_opportunity INCLUDING ALL);
CREATE TABLE bb_contact (LIKE contacts_contact INCLUDING ALL);
CREATE TABLE bb_link (LIKE linkage_opportunitycontact INCLUDING ALL);
"""
BASE_COPY = "COPY bb_stage (dt, cur, val, stage, email, phone, raid, payload, l1, l2, ref, props) FROM STDIN (FORMAT csv, HEADER)"
# What the raw side does is less than ours: contacts by e-mail only (ours matches and creates by
# e-mail, phone, RaId and PayloadValue), properties kept as text.
BASE_SQL = (
    """
    INSERT INTO bb_stages (site_id, name, probability, status, sort_order)
    SELECT DISTINCT ON (lower(btrim(s.stage))) %(site)s, btrim(s.stage), 0, 'open', 1000 FROM bb_stage s
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO bb_opp (site_id, external_id, name, amount, currency, stage_id, occurred_at, labels, properties,
                        created_at, updated_at)
    SELECT %(site)s, COALESCE(s.ref, 'batch-bench-' || s.n), COALESCE(s.ref, s.stage || ' ' || s.val || ' ' || s.cur),
           s.val::numeric, upper(s.cur), st.id, s.dt::timestamptz, array_remove(ARRAY[s.l1, s.l2], NULL),
           COALESCE(jsonb_build_object('raw', s.props), '{}'), now(), now()
    FROM bb_stage s JOIN bb_stages st ON st.site_id = %(site)s AND lower(st.name) = lower(btrim(s.stage))
    ON CONFLICT (site_id, external_id) DO NOTHING
    """,
    """
    INSERT INTO bb_contact (site_id, email, phone, visitor_id, external_id)
    SELECT DISTINCT ON (lower(email)) %(site)s, lower(email), phone, raid, payload
    FROM bb_stage WHERE email IS NOT NULL ORDER BY lower(email) ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO bb_link (site_id, opportunity_id, contact_id, created_at)
    SELECT %(site)s, o.id, c.id, now() FROM bb_stage s
    JOIN bb_opp o ON o.site_id = %(site)s AND o.external_id = COALESCE(s.ref, 'batch-bench-' || s.n)
    JOIN bb_contact c ON c.site_id = %(site)s AND lower(c.email) = lower(s.email)
    ON CONFLICT DO NOTHING
    """,
)


def baseline(dsn: str, csv_path: str, site_id: int, rows: int) -> dict:
    with psycopg.connect(dsn) as conn:
        try:
            for statement in BASE_DDL.strip().rstrip(";").split(";\n"):
                conn.execute(statement, {"site": site_id})
            conn.commit()
            pgstats.checkpoint(conn)
            lsn = pgstats.wal_lsn(conn)
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy(BASE_COPY) as copy, open(csv_path, "rb") as f:
                    while block := f.read(1024 * 1024):
                        copy.write(block)
                t1 = time.perf_counter()
                counts = []
                for statement in BASE_SQL:
                    cur.execute(statement, {"site": site_id})
                    counts.append(cur.rowcount)
            conn.commit()
            t2 = time.perf_counter()
            if counts[1] != rows:
                raise server.BenchError(f"baseline inserted {counts} rows, expected {rows}")
            return {"copy": t1 - t0, "insert": t2 - t1, "seconds": t2 - t0, "wal": pgstats.wal_since(conn, lsn)}
        finally:
            conn.rollback()
            conn.execute("DROP TABLE IF EXISTS bb_stage, bb_stages, bb_opp, bb_contact, bb_link")
            conn.commit()


def post_file(client: server.Client, site_id: int, csv_path: str) -> tuple[int, dict]:
    """Stream a multipart/form-data POST with the file in part `file`."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{os.path.basename(csv_path)}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = os.path.getsize(csv_path)
    conn = client._conn(timeout=1800)
    try:
        conn.putrequest("POST", f"/api/v1/{site_id}/opportunity/upload/batch")
        for k, v in client.headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.send(head)
        with open(csv_path, "rb") as f:
            while block := f.read(server.SEND_BLOCK):
                conn.send(block)
        conn.send(tail)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def check_refused(code: int, body: dict, expect: gen.Expect) -> None:
    """The bad file's upload is a 400 that counts every bad row and lists the first 1,000 of them."""
    want = sorted(expect.rejects)
    rows = [f.get("row") for f in body.get("failures", [])]
    if (
        code != 400
        or body.get("totalErrors") != len(want)
        or rows != want[: len(rows)]
        or len(rows) != min(1000, len(want))
    ):
        raise server.BenchError(
            f"bad file: expected 400 with totalErrors {len(want)} and rows {want[:10]}...; got {code} "
            f"totalErrors {body.get('totalErrors')}, rows {rows[:10]}...: {json.dumps(body)[:2000]}"
        )


def run_ours(dsn: str, expect: gen.Expect, site_id: int, statements: int) -> dict:
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port)
    client = server.Client(port, authorization=server.basic(f"{SITE}\\{USER}", PASSWORD))
    sampler = None
    out: dict = {}
    try:
        procs.start()
        sampler = Sampler({"api": procs.procs["api"].pid, "worker": procs.procs["worker"].pid})
        sampler.start()
        server.wait_healthy(client, procs)
        sampler.phase = "refused"
        t0 = time.perf_counter()
        code, body = post_file(client, site_id, expect.path)
        out["refused"] = time.perf_counter() - t0
        check_refused(code, body, expect)
        log(f"bad file refused in {out['refused']:.2f} s, naming exactly its {len(expect.rejects):,} bad rows")
        with psycopg.connect(dsn) as conn:
            pgstats.checkpoint(conn)
            lsn0 = pgstats.wal_lsn(conn)
            sampler.phase = "upload"
            t0 = time.perf_counter()
            code, body = post_file(client, site_id, expect.clean_path)
            t1 = time.perf_counter()
            if code != 202:
                raise server.BenchError(f"upload -> {code}: {json.dumps(body)[:3000]}")
            job = body["jobId"]
            out["wal_upload"] = pgstats.wal_since(conn, lsn0)
            log(f"upload + validation + staging: {t1 - t0:.2f} s; job {job}; syncing ...")
            pgstats.statements_reset(conn)
            lsn1 = pgstats.wal_lsn(conn)
            sampler.phase = "sync"
            while True:
                time.sleep(server.POLL_SECONDS)
                procs.check_alive()
                doc = client.expect(200, "GET", f"/api/v1/{site_id}/batch/{job}/status")
                if doc["status"] in ("complete", "partialcomplete", "failed"):
                    break
            t2 = time.perf_counter()
            out["wal_sync"] = pgstats.wal_since(conn, lsn1)
            out["top"] = pgstats.statements_top(conn, statements)
        if doc["status"] != "complete" or doc["totalUploadedCount"] != expect.rows:
            raise server.BenchError(f"job ended {doc}\n--- worker log ---\n{procs.tail('worker')}")
        out.update(upload=t1 - t0, sync=t2 - t1, seconds=t2 - t0)
    finally:
        if sampler is not None:
            sampler.stop()
        procs.stop()
    out["api_mb"] = sampler.peak_sum["api"] / 1024
    out["worker_mb"] = sampler.peak_sum["worker"] / 1024
    return out


def prepare_site(dsn: str) -> int:
    """The site's id, without the opportunities and contacts of an earlier run (References must be new)."""
    with psycopg.connect(dsn) as conn:
        (site_id,) = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
        conn.execute("DELETE FROM linkage_opportunitycontact WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM contacts_contact WHERE site_id = %s", (site_id,))
        conn.commit()
        conn.autocommit = True
        for table in ("contacts_contact", "opportunities_opportunity", "linkage_opportunitycontact"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    return site_id


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--statements", type=int, default=6, help="slowest statements shown (default 6)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    os.environ.setdefault("BATCH_MAX_UPLOAD_BYTES", str(1024 * 1024 * 1024))
    try:
        expect = gen.cached("batch", OUT_DIR, args.rows)
        log(f"{expect.clean_path} ({expect.size / 1048576:.1f} MiB) and a copy with {len(expect.rejects):,} bad rows")
        from bench.__main__ import manage

        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", USER, "--password", PASSWORD, "--token", TOKEN)
        site_id = prepare_site(dsn)
        base = baseline(dsn, expect.clean_path, site_id, args.rows)
        log(f"baseline {base['seconds']:.2f} s")
        ours = run_ours(dsn, expect, site_id, args.statements)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    n = args.rows
    mb = 1_048_576
    ratio = base["seconds"] / ours["seconds"]
    api_mb, wrk_mb = ours["api_mb"], ours["worker_mb"]
    lines = [
        "",
        f"Batch upload benchmark: {n:,} rows, CSV {expect.size / mb:.1f} MiB",
        f"bad copy ({len(expect.rejects):,} bad rows: "
        f"{', '.join(f'{c} {k:,}' for c, k in expect.reject_counts().items())}) refused in {ours['refused']:.2f} s,"
        " naming exactly those rows",
        f"baseline (COPY + INSERT opps/contacts/links) {base['seconds']:8.2f} s  {n / base['seconds']:>10,.0f} rows/s"
        f"  (COPY {base['copy']:.2f}, INSERTs {base['insert']:.2f}; {base['wal'] / mb:,.0f} MB WAL)",
        f"ours end to end                             {ours['seconds']:8.2f} s  {n / ours['seconds']:>10,.0f} rows/s"
        f"  ratio {ratio:.2f}x  target >= {TARGET_RATIO}x {'PASS' if ratio >= TARGET_RATIO else 'MISS'}"
        f"  ({(ours['wal_upload'] + ours['wal_sync']) / mb:,.0f} MB WAL)",
        f"  upload request (validation + staging)  {ours['upload']:8.2f} s  {n / ours['upload']:>10,.0f} rows/s",
        f"  sync (job pending -> complete)         {ours['sync']:8.2f} s  {n / ours['sync']:>10,.0f} rows/s",
        f"peak RSS: API sum {api_mb:.1f} MB (target < {TARGET_API_MB} MB {'PASS' if api_mb < TARGET_API_MB else 'MISS'}),"
        f" worker sum {wrk_mb:.1f} MB (target < {TARGET_WORKER_MB} MB {'PASS' if wrk_mb < TARGET_WORKER_MB else 'MISS'})",
        "slowest statements of the sync (ms total, calls, rows, WAL MB):",
    ]
    for st in ours["top"]:
        lines.append(
            f"  {st['ms']:9,.0f} ms {st['calls']:>6} {st['rows']:>9,} {st['wal'] / mb:>7,.0f}  {st['query'][:110]}"
        )
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
