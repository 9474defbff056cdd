"""`python -m bench.batch [--rows N]`: the one-shot batch CSV upload, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL. In one run:
  1. generate a batch CSV of N rows (every row a new Reference and a new email; every 10th a phone,
     labels on all, properties on every 3rd) under .run/bench/;
  2. baseline: psycopg COPY into an unlogged table, then one INSERT of the opportunities (stage join)
     into a copy of opportunities_opportunity, one INSERT of the contacts (by email) and one of the
     links, into copies of those tables;
  3. ours: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`); POST the file as multipart to
     /api/v1/{siteId}/opportunity/upload/batch (validation happens inside that request), poll
     /batch/{jobId}/status until it ends, while sampling the peak RSS of both process trees.
Prints validation (upload request) seconds, end-to-end rows/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid

import psycopg

from . import server
from .rss import Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench-batch")  # own dir: other benches write .run/bench/*.log
SITE = "BatchBench"
TOKEN = "batch-bench-token"
TARGET_RATIO = 0.5
TARGET_API_MB = 300
HEADER = (
    "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,PhoneNumber,"
    "Label,Label,Reference,AdditionalDataProperties\n"
)
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won")
CURRENCIES = ("GBP", "USD", "EUR")


def log(msg: str) -> None:
    print(f"bench.batch: {msg}", file=sys.stderr, flush=True)


def generate(path: str, rows: int, tag: str) -> int:
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for i in range(1, rows + 1):
            phone = f"+4479{i % 100_000_000:08d}" if i % 10 == 0 else ""
            props = f'"Name=Source,Value=Google;Name=Row,Value={i}"' if i % 3 == 0 else ""
            f.write(
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}Z,"
                f"{CURRENCIES[i % 3]},{rnd.randint(100, 99_999)}.{i % 100:02d},{STAGES[i % 5]},"
                f"user{i}.{tag}@example.com,{phone},hot,wave{i % 7},{tag}-{i},{props}\n"
            )
    return os.path.getsize(path)


BASE_DDL = """
DROP TABLE IF EXISTS bb_stage, bb_opp, bb_contact, bb_link;
CREATE UNLOGGED TABLE bb_stage (dt text, cur text, val text, stage text, email text, phone text,
                               l1 text, l2 text, ref text, props text);
CREATE TABLE bb_opp (LIKE opportunities_opportunity INCLUDING ALL);
CREATE TABLE bb_contact (LIKE contacts_contact INCLUDING ALL);
CREATE TABLE bb_link (LIKE linkage_opportunitycontact INCLUDING ALL);
"""
BASE_SQL = (
    """
    INSERT INTO bb_opp (site_id, external_id, name, amount, currency, stage_id, occurred_at, labels, properties,
                        created_at, updated_at)
    SELECT %(site)s, s.ref, s.ref, s.val::numeric, s.cur, st.id, s.dt::timestamptz,
           array_remove(ARRAY[s.l1, s.l2], NULL), COALESCE(jsonb_build_object('raw', s.props), '{}'), now(), now()
    FROM bb_stage s JOIN opportunities_stage st ON st.site_id = %(site)s AND lower(st.name) = lower(s.stage)
    ON CONFLICT (site_id, external_id) DO NOTHING
    """,
    """
    INSERT INTO bb_contact (site_id, email, phone) SELECT DISTINCT ON (lower(email)) %(site)s, email, phone
    FROM bb_stage ORDER BY lower(email) ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO bb_link (site_id, opportunity_id, contact_id, created_at)
    SELECT %(site)s, o.id, c.id, now() FROM bb_stage s
    JOIN bb_opp o ON o.site_id = %(site)s AND o.external_id = s.ref
    JOIN bb_contact c ON c.site_id = %(site)s AND lower(c.email) = lower(s.email)
    ON CONFLICT DO NOTHING
    """,
)


def baseline(dsn: str, csv_path: str, site_id: int, rows: int) -> dict:
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute(BASE_DDL)
            conn.commit()
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy("COPY bb_stage FROM STDIN (FORMAT csv, HEADER)") as copy, open(csv_path, "rb") as f:
                    while block := f.read(1024 * 1024):
                        copy.write(block)
                t1 = time.perf_counter()
                counts = []
                for statement in BASE_SQL:
                    cur.execute(statement, {"site": site_id})
                    counts.append(cur.rowcount)
            conn.commit()
            t2 = time.perf_counter()
            if counts[0] != rows:
                raise server.BenchError(f"baseline inserted {counts} rows, expected {rows}")
            return {"copy": t1 - t0, "insert": t2 - t1, "seconds": t2 - t0}
        finally:
            conn.rollback()
            conn.execute("DROP TABLE IF EXISTS bb_stage, bb_opp, bb_contact, bb_link")
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
        conn.putheader("Authorization", f"Bearer {TOKEN}")
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


def run_ours(csv_path: str, site_id: int, rows: int, sampler_box: list) -> dict:
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port)
    client = server.Client(port)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    sampler = None
    try:
        procs.start()
        sampler = Sampler({"api": procs.procs["api"].pid, "worker": procs.procs["worker"].pid})
        sampler_box.append(sampler)
        sampler.start()
        server.wait_healthy(client, procs)
        sampler.phase = "upload"
        t0 = time.perf_counter()
        code, body = post_file(client, site_id, csv_path)
        t1 = time.perf_counter()
        if code != 202:
            raise server.BenchError(f"upload -> {code}: {json.dumps(body)[:3000]}")
        job = body["jobId"]
        log(f"upload + validation + staging: {t1 - t0:.2f} s; job {job}; syncing ...")
        sampler.phase = "sync"
        while True:
            time.sleep(server.POLL_SECONDS)
            procs.check_alive()
            doc = client.expect(200, "GET", f"/api/v1/{site_id}/batch/{job}/status")
            if doc["status"] in ("complete", "partialcomplete", "failed"):
                break
        t2 = time.perf_counter()
        if doc["status"] != "complete" or doc["totalUploadedCount"] != rows:
            raise server.BenchError(f"job ended {doc}\n--- worker log ---\n{procs.tail('worker')}")
        return {"upload": t1 - t0, "sync": t2 - t1, "seconds": t2 - t0}
    finally:
        if sampler is not None:
            sampler.stop()
        procs.stop()


def site_id_for(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    os.environ.setdefault("BATCH_MAX_UPLOAD_BYTES", str(1024 * 1024 * 1024))
    tag = uuid.uuid4().hex[:8]  # fresh References and emails: a rerun creates, as the first run did
    csv_path = os.path.join(OUT_DIR, f"batch-{args.rows}.csv")
    sampler_box: list = []
    try:
        size = generate(csv_path, args.rows, tag)
        log(f"generated {csv_path} ({size / 1048576:.1f} MiB)")
        from .__main__ import manage

        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", "bench", "--password", "bench-pass", "--token", TOKEN)
        site_id = site_id_for(dsn)
        base = baseline(dsn, csv_path, site_id, args.rows)
        log(f"baseline {base['seconds']:.2f} s")
        ours = run_ours(csv_path, site_id, args.rows, sampler_box)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    n = args.rows
    sampler = sampler_box[0]
    ratio = (n / ours["seconds"]) / (n / base["seconds"])
    api_mb, wrk_mb = sampler.peak_sum["api"] / 1024, sampler.peak_sum["worker"] / 1024
    print(
        f"\nBatch upload benchmark: {n:,} rows, CSV {size / 1048576:.1f} MiB\n"
        f"baseline (COPY + INSERT opps/contacts/links) {base['seconds']:8.2f} s  {n / base['seconds']:>10,.0f} rows/s"
        f"  (COPY {base['copy']:.2f}, INSERTs {base['insert']:.2f})\n"
        f"ours end to end                             {ours['seconds']:8.2f} s  {n / ours['seconds']:>10,.0f} rows/s"
        f"  ratio {ratio:.2f}x  target >= {TARGET_RATIO}x {'PASS' if ratio >= TARGET_RATIO else 'MISS'}\n"
        f"  upload request (validation + staging)  {ours['upload']:8.2f} s  {n / ours['upload']:>10,.0f} rows/s\n"
        f"  sync (job pending -> complete)         {ours['sync']:8.2f} s  {n / ours['sync']:>10,.0f} rows/s\n"
        f"peak RSS: API sum {api_mb:.1f} MB (target < {TARGET_API_MB} MB {'PASS' if api_mb < TARGET_API_MB else 'MISS'}),"
        f" worker sum {wrk_mb:.1f} MB",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
