"""`python -m bench.purge [--rows N]`: the retention purge of N expired staged rows, by DELETE
(before) and by dropping their partition (after).

Needs DATABASE_URL (`make bench BENCH_ARGS="--cases purge"`, PostgreSQL in durable mode). For each
side, N rows shaped like an opportunity import's (about 300 bytes of jsonb each) are staged under
an import definition with a one-hour retention, from an upload two hours old, into a partition of
exactly N ids made by the server's own upkeep (`pipeline.partitions`), which then seals it.
Then, after a CHECKPOINT (so both sides start with the same full-page-write debt):
  - delete: the row-wise purge (`staged_rows_purge_expired`, what retention did before), then the
    VACUUM that gives the space back to the table (measured apart: autovacuum would run it later);
  - drop:   the partition purge (`staged_partitions_drop`).
Prints seconds, WAL bytes and the partition's size on disk after each step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

import psycopg
from psycopg import sql

from bench import pgstats, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg: str) -> None:
    print(f"bench.purge: {msg}", file=sys.stderr, flush=True)


def _django():
    os.environ.update(server.server_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def stage_expired(conn: psycopg.Connection, rows: int) -> tuple[int, str]:
    """A definition with `rows` expired staged rows filling a sealed partition of their own;
    returns (definition id, partition name)."""
    from django.conf import settings
    from django.utils import timezone

    from kernel.models import Site
    from pipeline.models import ImportDefinition, StagedUpload
    from pipeline.partitions import CLOCK_SLACK_SECONDS, partitions, staged_partitions_upkeep

    settings.BULK_STAGING_PARTITION_ROWS, settings.BULK_STAGING_PARTITIONS_AHEAD = rows, 1
    conn.execute("SELECT setval('bulkapi_stagedrow_id_seq', (SELECT max(hi) FROM bulkapi_stagedpartition))")
    staged_partitions_upkeep()  # a partition of `rows` ids starting at the next id
    partition = partitions()[-1]
    site, _ = Site.objects.get_or_create(name="BenchPurge")
    definition = ImportDefinition.objects.create(
        site=site, entity="opportunity", name="purge", fields=[], created_by="bench", updated_by="bench",
        data_retention_duration="PT1H", data_retention_seconds=3600,
    )  # fmt: skip
    upload = StagedUpload.objects.create(definition=definition, content_type="text/csv", row_count=rows)
    StagedUpload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(hours=2))
    conn.execute(
        """
        INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)
        SELECT %s, %s, jsonb_build_object(
          'OpportunityID', 'OPP-' || g, 'OpportunityName', 'Opportunity number ' || g || ' for a customer',
          'AccountName', 'Account ' || (g %% 5000), 'CreatedDate', '2024-03-01 10:00:00',
          'Amount', (g %% 100000)::text || '.50', 'CloseDate', '2024-09-30', 'Currency', 'USD',
          'Stage', 'Proposal', 'Territory', 'EMEA North')
        FROM generate_series(1, %s) g
        """,
        [definition.pk, upload.pk, rows],
    )
    conn.execute(
        sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(partition.relname))
    )  # as autovacuum would have, long before expiry
    assert staged_partitions_upkeep()["sealed"] == 1
    conn.execute(
        "UPDATE bulkapi_stagedpartition SET sealed_at = now() - make_interval(secs => %s) WHERE relname = %s",
        [2 * 3600 + CLOCK_SLACK_SECONDS, partition.relname],
    )
    return definition.pk, partition.relname


def size(conn: psycopg.Connection, relname: str) -> int:
    (n,) = conn.execute("SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", [relname]).fetchone()
    return n


def measure(conn: psycopg.Connection, step) -> tuple[float, int, object]:
    pgstats.checkpoint(conn)
    lsn = pgstats.wal_lsn(conn)
    start = time.perf_counter()
    out = step()
    seconds = time.perf_counter() - start
    return seconds, pgstats.wal_since(conn, lsn), out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.purge", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="expired staged rows (default 1,000,000)")
    args = p.parse_args(argv)
    dsn = server.bench_dsn(log)
    if dsn is None:
        return 2
    from bench.__main__ import manage

    try:
        manage("migrate", "--noinput")
    except server.BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    _django()
    from django.utils import timezone

    from pipeline.partitions import staged_partitions_drop
    from pipeline.services.imports import staged_rows_purge_expired

    results = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        log(f"staging {args.rows:,} expired rows (delete side) ...")
        _, part = stage_expired(conn, args.rows)
        before = size(conn, part)
        seconds, wal, n = measure(conn, lambda: staged_rows_purge_expired(now=timezone.now()))
        if n != args.rows:
            log(f"FAILED: the DELETE purged {n:,} rows, not {args.rows:,}")
            return 1
        results.append(("DELETE (row-wise purge)", seconds, wal, before, size(conn, part)))
        seconds, wal, _ = measure(conn, lambda: conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(part))))
        results.append(("  + VACUUM of the partition", seconds, wal, None, size(conn, part)))
        staged_partitions_drop()  # the emptied partition, not measured

        log(f"staging {args.rows:,} expired rows (drop side) ...")
        _, part = stage_expired(conn, args.rows)
        before = size(conn, part)
        seconds, wal, dropped = measure(conn, staged_partitions_drop)
        if part not in dropped:
            log(f"FAILED: {part} was not dropped ({dropped})")
            return 1
        results.append(("DROP of the partition", seconds, wal, before, size(conn, part)))
        settings_shown = pgstats.settings(conn, ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers"))
    print(
        f"\nretention purge of {args.rows:,} expired staged rows ({', '.join(f'{k}={v}' for k, v in settings_shown.items())})\n"
    )
    print(f"{'':<30}{'seconds':>10}{'WAL MB':>10}{'size before MB':>16}{'size after MB':>15}")
    for name, seconds, wal, before, after in results:
        shown_before = f"{before / 2**20:,.1f}" if before is not None else ""
        print(f"{name:<30}{seconds:>10.2f}{wal / 2**20:>10.1f}{shown_before:>16}{after / 2**20:>15.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
