"""How chunk statements steer PostgreSQL's planner: every trick in one place, each with the number
that earned it. A statement uses these instead of spelling the trick out, so a trick is found,
measured again and dropped in one place.

The one cause behind most of them: a chunk's statements run while other lanes fill the same tables
in uncommitted transactions, and a table that was empty at the last ANALYZE (or knows only other
sites) looks tiny to the planner. Every plan for matching one staged row then looks equally cheap,
and the cheapest-looking one (a scan, or a walk of the site's stretch of an index) reads every row
the other lanes insert, once per staged row: a lane's first chunk ran for minutes that way. So
per-row lookups are forced to be index probes, and statistics are refreshed when a sync has just
filled a table (pipeline.services.run, the columns entities register with register_statistics).

The tricks:
- `FENCE` (`OFFSET 0` on a subquery): kept whole, not flattened into the outer query. In the judge
  statements each staged value is then taken out of the jsonb once, and each judged array and code
  built once, instead of once per reference (-15 % of the opportunity judge); the site's few stages
  are lower-cased once, not once per compared pair (1.6 us a row).
- `unindexed(column)` (`id + 0` in ORDER BY): the lowest id among a lookup's few matches, without
  making "walk the primary key in order" a plan the planner may choose for a LIMIT 1 lookup.
- `AS MATERIALIZED` CTEs (linkage, batch): each step computed once, in order, for data-modifying
  CTEs that read it several times.
- `without_seq_scans`: no seq scan for statements whose every join is a per-row probe (linkage:
  20,000 rows took 97 s instead of 2.4 s when contacts were scanned per row; batch contacts: 1.4
  and 2.4 s a chunk at 1,000,000 rows where the probes take a tenth of that).
- `chunk_settings`: JIT off (JIT-compiling the chunk's expression-heavy statements cost far more
  than it saved: 5,000 rows synced in 1.9 s with JIT, 0.6 s without; one update chunk 26 s), a
  bounded `statement_timeout` and `work_mem` for the judged rows' sorts and hashes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import sql

FENCE = sql.SQL("OFFSET 0")


def unindexed(column: sql.Composable) -> sql.Composable:
    """`column + 0`: the same order, through no index (see the module docstring)."""
    return sql.SQL("{} + 0").format(column)


@contextmanager
def without_seq_scans(cursor) -> Iterator[None]:
    """Statements run inside plan no seq scan (in the caller's transaction): for per-row lookups
    into a table another lane may be filling (see the module docstring)."""
    cursor.execute("SET LOCAL enable_seqscan = off")
    try:
        yield
    finally:
        cursor.execute("SET LOCAL enable_seqscan = on")


def chunk_settings(cursor, *, statement_timeout: str, work_mem: str | None = "64MB") -> None:
    """Transaction-local settings of a chunk (or a dry run): JIT off, a statement timeout (so a
    statement that cannot finish is cancelled by the server before the task's time limit and the
    chunk rolls back), and work_mem for the judged rows. `SET LOCAL` / `set_config(..., true)`
    only: nothing outlives the transaction (PgBouncer's transaction pooling keeps no session)."""
    if work_mem is not None:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [statement_timeout])
    cursor.execute("SET LOCAL jit = off")
