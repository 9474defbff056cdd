"""`python -m bench.linkage [--rows N]`: opportunity-contact linkage by e-mail, ours vs raw PostgreSQL.

Needs DATABASE_URL and REDIS_URL. In one run:
  1. seed a site with N contacts and N/10 opportunities (plain SQL, not measured) and write a
     linkage CSV of N rows (OpportunityID, EmailAddress), every row matching one contact;
  2. baseline: psycopg COPY of the CSV into an unlogged table + one INSERT .. SELECT .. JOIN
     (opportunity by lower(external_id), contact by lower(email)) .. ON CONFLICT DO NOTHING into a
     copy of linkage_opportunitycontact;
  3. ours: gunicorn (2 workers) + one Celery worker (-c 2, as `make run`), a linkage import definition, CSV upload
     in parts of <= 30 MB, POST /syncs, poll to the end.
Prints rows/s of both and the ratio (target >= 0.5x). Exit 1 on a functional failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import psycopg

from . import server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, ".run", "bench")
SITE = "BenchLink"
TARGET_RATIO = 0.5
FIELDS = {"OpportunityID": "{{Opportunity.Id}}", "EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}"}
BATCH = 10_000


def log(msg: str) -> None:
    print(f"bench.linkage: {msg}", file=sys.stderr, flush=True)


def opportunities_for(rows: int) -> int:
    return max(1, rows // 10)


def generate(path: str, rows: int) -> int:
    """Row i links opportunity LNK-(i mod N/10) to contact i (e-mail case varied: matching ignores case)."""
    opps = opportunities_for(rows)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="") as f:
        f.write("OpportunityID,EmailAddress\n")
        for start in range(1, rows + 1, BATCH):
            f.writelines(
                f"LNK-{i % opps},{'Contact' if i % 2 else 'contact'}{i}@bench.example\n"
                for i in range(start, min(start + BATCH, rows + 1))
            )
    os.replace(tmp, path)
    return os.path.getsize(path)


def manage(*argv: str) -> None:
    cmd = [os.path.join(ROOT, ".venv", "bin", "python"), "manage.py", *argv]
    r = subprocess.run(cmd, cwd=ROOT, env=server.server_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise server.BenchError(f"manage.py {' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def seed(dsn: str, rows: int) -> int:
    """The site's id, holding exactly `rows` contacts and rows/10 opportunities and no links."""
    opps = opportunities_for(rows)
    with psycopg.connect(dsn) as conn:
        (site_id,) = conn.execute("SELECT id FROM bulkapi_site WHERE lower(name) = lower(%s)", (SITE,)).fetchone()
        conn.execute("DELETE FROM linkage_opportunitycontact WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM opportunities_opportunity WHERE site_id = %s", (site_id,))
        conn.execute("DELETE FROM contacts_contact WHERE site_id = %s", (site_id,))
        conn.execute(
            "INSERT INTO contacts_contact (site_id, email, first_name)"
            " SELECT %s, 'contact' || i || '@bench.example', 'Contact ' || i FROM generate_series(1, %s) i",
            (site_id, rows),
        )
        conn.execute(
            "INSERT INTO opportunities_opportunity (site_id, external_id, name, amount, stage_id)"
            " SELECT %s, 'LNK-' || i, 'Opportunity ' || i, 100,"
            " (SELECT min(id) FROM opportunities_stage WHERE site_id = %s) FROM generate_series(0, %s) i",
            (site_id, site_id, opps - 1),
        )
        conn.commit()
        conn.execute("ANALYZE contacts_contact")
        conn.execute("ANALYZE opportunities_opportunity")
        conn.commit()
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
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute("DROP TABLE IF EXISTS bench_link_stage, bench_link")
            conn.execute("CREATE UNLOGGED TABLE bench_link_stage (opp text, email text)")
            conn.execute("CREATE TABLE bench_link (LIKE linkage_opportunitycontact INCLUDING ALL)")
            conn.commit()
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
            return {"copy": t1 - t0, "insert": t2 - t1, "seconds": t2 - t0}
        finally:
            conn.rollback()
            conn.execute("DROP TABLE IF EXISTS bench_link_stage, bench_link")
            conn.commit()


def ours(csv_path: str, parts, rows: int) -> dict:
    port = server.free_port()
    procs = server.Processes(ROOT, OUT_DIR, port)
    client = server.Client(port)
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
        t0 = time.perf_counter()
        server.upload(client, uri, csv_path, parts, 1)
        t1 = time.perf_counter()
        log(f"ours: uploaded {len(parts)} part(s) in {t1 - t0:.2f} s; syncing ...")
        sync_uri, doc = server.sync(client, procs, uri, rows)
        t2 = time.perf_counter()
        if doc["progress"].get("created") != rows:
            raise server.BenchError(f"ours: {sync_uri} progress {doc['progress']}: expected {rows} links created")
        return {"upload": t1 - t0, "sync": t2 - t1, "seconds": t2 - t0, "sync_uri": sync_uri}
    finally:
        procs.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.linkage", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="linkage rows = contacts (default 1,000,000)")
    p.add_argument("--part-mb", type=float, default=30, help="max upload body size in MB (default 30)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    from . import gen

    try:
        csv_path = os.path.join(OUT_DIR, f"linkage-{args.rows}.csv")
        size = generate(csv_path, args.rows)
        parts = gen.split_parts(csv_path, int(args.part_mb * 1_000_000))
        log("migrate + createsite + seed ...")
        manage("migrate", "--noinput")
        manage("createsite", SITE, "--user", "bench", "--password", "bench-pass", "--token", server.TOKEN + "-link")
        server.TOKEN = server.TOKEN + "-link"
        site_id = seed(dsn, args.rows)
        log(f"seeded {args.rows:,} contacts and {opportunities_for(args.rows):,} opportunities; baseline ...")
        base = baseline(dsn, csv_path, site_id, args.rows)
        log(f"baseline: {base['seconds']:.2f} s; ours ...")
        mine = ours(csv_path, parts, args.rows)
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    n = args.rows
    ratio = base["seconds"] / mine["seconds"]
    print(
        "\n".join(
            [
                "",
                f"Linkage import benchmark: {n:,} rows by e-mail against {n:,} contacts and "
                f"{opportunities_for(n):,} opportunities; CSV {size / 1048576:.1f} MiB, {len(parts)} part(s)",
                f"{'case':<10} | {'seconds':>8} | {'rows/s':>9} | ratio vs baseline",
                f"{'baseline':<10} | {base['seconds']:>8.2f} | {n / base['seconds']:>9,.0f} | 1.00x "
                f"(COPY {base['copy']:.2f} s, INSERT..SELECT..JOIN {base['insert']:.2f} s)",
                f"{'ours':<10} | {mine['seconds']:>8.2f} | {n / mine['seconds']:>9,.0f} | {ratio:.2f}x  "
                f"target >= {TARGET_RATIO}x {'PASS' if ratio >= TARGET_RATIO else 'MISS'} "
                f"(upload {mine['upload']:.2f} s, sync {mine['sync']:.2f} s)",
            ]
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
