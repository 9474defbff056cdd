"""Every process through a PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer): migrations,
the API, the worker and beat. An import syncs end to end, and a PostgreSQL restart mid-sync (every
server connection cut under PgBouncer) loses and duplicates nothing; an upload retried under its
Idempotency-Key (a claim row, no session lock) is staged once."""

import re

from tests.scale.engines import faults, require, table_row


def test_a_sync_a_postgres_restart_and_a_retried_upload_through_pgbouncer_in_transaction_mode():
    require("pgbouncer")

    output = faults("--pooler", "pgbouncer", "--scenarios", "clean,postgres-restart,retried-upload")

    assert "broker redis, pgbouncer" in output
    pooled = re.search(r"pgbouncer: pool_mode (\w+), (\d+) transactions pooled", output)
    assert pooled and pooled[1] == "transaction" and int(pooled[2]) > 100
    for scenario in ("clean", "postgres-restart", "retried-upload"):
        _, rows, stored, rejected, lost, dup, wrong, _, result = table_row(output, scenario)
        assert (rows, stored, rejected, lost, dup, wrong, result) == ("2,000", "1,980", "20", "0", "0", "0", "ok")
