"""`python -m bench.linkage [--rows N]`: opportunity-contact linkage by e-mail, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL. In one run:
  1. seed a site with N contacts and N/10 opportunities (not measured) and write (once; cached) a
     linkage CSV of N rows (OpportunityID, EmailAddress) shaped like an export: unpadded ids in
     numeric order, about ten contacts per opportunity, e-mails in mixed case, and bad rows of
     every reject kind (bench/gen.py);
  2. baseline: psycopg COPY of the valid rows into an unlogged table + one INSERT .. SELECT .. JOIN
     (opportunity by lower(external_id), contact by lower(email)) .. ON CONFLICT DO NOTHING into a
     copy of linkage_opportunitycontact; WAL bytes;
  3. ours: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`), a linkage import
     definition, CSV upload in parts of <= 30 MB, POST /syncs, poll to the end with Basic auth;
     checks the counts and that exactly the bad rows came back as rejects; WAL bytes, slowest
     statements.
Prints rows/s of both and the ratio (target >= 0.5x). Exit 1 on a functional failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import psycopg
from psycopg import sql

from bench import gen, pgstats, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
SITE = "BenchLink"
USER, PASSWORD, TOKEN = "bench", "bench-pass", "bench-token-link"
TARGET_RATIO = 0.5
FIELDS = {"OpportunityID": "{{Opportunity.Id}}", "EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}"}


def log(msg: str) -> None:
    print(f"bench.linkage: {msg}", file=sys.stderr, flush=True)


def manage(*argv: str) -> None:
    cmd = [os.path.join(ROOT, ".venv", "bin", "python"), "manage.py", *argv]
    r = subprocess.run(cmd, cwd=ROOT, env=server.server_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise server.BenchError(f"manage.py {' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def seed(dsn: str, rows: int) -> int:
    """The site's id, holding exactly `rows` contacts and rows/10 opportunities and no links."""
    opps = gen.linkage_opportunities(rows)
    with psycopg.connect(dsn) as conn:
        (site_id,) = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
        conn.execute("DELETE FROM linkage_opportunitycontact WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM contacts_contact WHERE site_id = %s", (site_id,))
        with (
            conn.cursor() as cur,
            cur.copy("COPY contacts_contact (site_id, email, first_name, last_name) FROM STDIN") as copy,
        ):
            for i in range(1, rows + 1):
                email = gen.contact_email(i)
                first, last = email.split("@")[0].split(".")[:2]
                copy.write_row((site_id, email, first.title(), last.title()))
        conn.execute(
            "INSERT INTO opportunities_opportunity (site_id, external_id, name, amount, stage_id)"
            " SELECT %s, 'OPP-' || i, 'Opportunity ' || i, 100,"
            " (SELECT min(id) FROM opportunities_stage WHERE site_id = %s) FROM generate_series(1, %s) i",
            (site_id, site_id, opps),
        )
        conn.commit()
        conn.autocommit = True
        for table in ("contacts_contact", "opportunities_opportunity", "linkage_opportunitycontact"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        return site_id


BASELINE_LINK = """
INSERT INTO bench_link (site_id, opportunity_id, contact_id, created_at)
SELECT %(site)s, o.id, c.id, now()
FROM bench_link_stage s
JOIN opportunities_opportunity o ON o.site_id = %(site)s AND lower(o.external_id) = lower(s.opp)
JOIN contacts_contact c ON c.site_id = %(site)s AND lower(c.email) = lower(s.email) AND c.email IS NOT NULL
ON CONFLICT (opportunity_id, contact_id) DO NOTHING
"""


def baseline(dsn: str, csv_path: str, site_id: int, rows: int) -> dict:
    with psycopg.connect(dsn, autocommit=False) as conn:
        try:
            conn.execute("DROP TABLE IF EXISTS bench_link_stage, bench_link")
            conn.execute("CREATE UNLOGGED TABLE bench_link_stage (opp text, email text)")
            conn.execute("CREATE TABLE bench_link (LIKE linkage_opportunitycontact INCLUDING ALL)")
            conn.commit()
            pgstats.checkpoint(conn)
            lsn = pgstats.wal_lsn(conn)
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                with (
                    cur.copy("COPY bench_link_stage FROM STDIN (FORMAT csv, HEADER)") as copy,
                    open(csv_path, "rb") as f,
                ):
                    while block := f.read(1024 * 1024):
                        copy.write(block)
                t1 = time.perf_counter()
                cur.execute(BASELINE_LINK, {"site": site_id})
                linked = cur.rowcount
            conn.commit()
            t2 = time.perf_counter()
            if linked != rows:
                raise server.BenchError(f"baseline linked {linked} rows, expected {rows}")
            return {"copy": t1 - t0, "insert": t2 - t1, "seconds": t2 - t0, "wal": pgstats.wal_since(conn, lsn)}
        finally:
            conn.rollback()
            conn.execute("DROP TABLE IF EXISTS bench_link_stage, bench_link")
            conn.commit()


def ours(dsn: str, expect: gen.Expect, parts, statements: int) -> dict:
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port)
    client = server.Client(port, authorization=server.basic(f"{SITE}\\{USER}", PASSWORD))
    try:
        procs.start()
        server.wait_healthy(client, procs)
        definition = client.expect(
            201,
            "POST",
            f"{server.API}/opportunities/contacts/imports",
            {"name": "bench linkage", "fields": FIELDS, "linkOpportunitiesEntityType": "Contact"},
        )
        uri = definition["uri"]
        with psycopg.connect(dsn) as conn:
            pgstats.checkpoint(conn)
            lsn0 = pgstats.wal_lsn(conn)
            t0 = time.perf_counter()
            server.upload(client, uri, expect.path, parts, 1)
            t1 = time.perf_counter()
            wal_upload = pgstats.wal_since(conn, lsn0)
            log(f"ours: uploaded {len(parts)} part(s) in {t1 - t0:.2f} s; syncing ...")
            pgstats.statements_reset(conn)
            lsn1 = pgstats.wal_lsn(conn)
            counts = {"total": expect.rows, "rejected": len(expect.rejects), "created": expect.valid}
            sync_uri, doc, _ = server.sync(client, procs, uri, counts)
            t2 = time.perf_counter()
            wal_sync = pgstats.wal_since(conn, lsn1)
            top = pgstats.statements_top(conn, statements)
        server.check_rejects(server.rejects(client, sync_uri), expect.rejects, f"ours {sync_uri}")
        log(f"ours: {sync_uri} {doc['status']} {doc['progress']} in {t2 - t1:.2f} s; rejects as expected")
        return {
            "upload": t1 - t0,
            "sync": t2 - t1,
            "seconds": t2 - t0,
            "sync_uri": sync_uri,
            "wal_upload": wal_upload,
            "wal_sync": wal_sync,
            "top": top,
        }
    finally:
        procs.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.linkage", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="linkage rows = contacts (default 1,000,000)")
    p.add_argument("--part-mb", type=float, default=30, help="max upload body size in MB (default 30)")
    p.add_argument("--statements", type=int, default=6, help="slowest statements shown (default 6)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    os.makedirs(OUT_DIR, exist_ok=True)
    try:
        expect = gen.cached("linkage", OUT_DIR, args.rows)
        parts = gen.split_parts(expect.path, int(args.part_mb * 1_000_000))
        log("migrate + createsite + seed ...")
        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", USER, "--password", PASSWORD, "--token", TOKEN)
        site_id = seed(dsn, args.rows)
        log(f"seeded {args.rows:,} contacts and {gen.linkage_opportunities(args.rows):,} opportunities; baseline ...")
        base = baseline(dsn, expect.clean_path, site_id, expect.valid)
        log(f"baseline: {base['seconds']:.2f} s; ours ...")
        mine = ours(dsn, expect, parts, args.statements)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    n = expect.rows
    mb = 1_048_576
    ratio = base["seconds"] / mine["seconds"]
    lines = [
        "",
        f"Linkage import benchmark: {n:,} rows by e-mail against {n:,} contacts and "
        f"{gen.linkage_opportunities(n):,} opportunities; CSV {expect.size / mb:.1f} MiB, {len(parts)} part(s);"
        f" {len(expect.rejects):,} bad rows ({', '.join(f'{c} {k:,}' for c, k in expect.reject_counts().items())})",
        f"{'case':<10} | {'seconds':>8} | {'rows/s':>9} | {'WAL MB':>7} | ratio vs baseline",
        f"{'baseline':<10} | {base['seconds']:>8.2f} | {n / base['seconds']:>9,.0f} | {base['wal'] / mb:>7,.0f} | 1.00x "
        f"(COPY {base['copy']:.2f} s, INSERT..SELECT..JOIN {base['insert']:.2f} s; valid rows only)",
        f"{'ours':<10} | {mine['seconds']:>8.2f} | {n / mine['seconds']:>9,.0f} | "
        f"{(mine['wal_upload'] + mine['wal_sync']) / mb:>7,.0f} | {ratio:.2f}x  "
        f"target >= {TARGET_RATIO}x {'PASS' if ratio >= TARGET_RATIO else 'MISS'} "
        f"(upload {mine['upload']:.2f} s, {mine['wal_upload'] / mb:,.0f} MB WAL; sync {mine['sync']:.2f} s,"
        f" {mine['wal_sync'] / mb:,.0f} MB WAL)",
        "slowest statements of our sync (ms total, calls, rows, WAL MB):",
    ]
    for st in mine["top"]:
        lines.append(
            f"  {st['ms']:9,.0f} ms {st['calls']:>6} {st['rows']:>9,} {st['wal'] / mb:>7,.0f}  {st['query'][:110]}"
        )
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
