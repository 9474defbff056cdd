"""Staged rows' partitions (RANGE of `id`, migration bulkapi 0018): made ahead, sealed, dropped.

Ids come from one sequence and only grow. A partition is *sealed* once the sequence has handed
out every id of its range: nothing can be staged into it again, and every row in it belongs to an
upload made before `sealed_at` (an upload's row is made before its id is drawn). So:

- `staged_partitions_upkeep` (beat, every minute; idempotent, one at a time) makes the next
  partitions before the sequence reaches them, BULK_STAGING_PARTITIONS_AHEAD of
  BULK_STAGING_PARTITION_ROWS ids each, and stamps `sealed_at` on those the sequence has passed.
  Ids past every partition (an upkeep that did not run in time) land in the DEFAULT partition,
  and the next partition starts above them;
- `staged_partitions_drop` (the retention purge) drops a sealed partition when none of its rows
  can still be wanted: it is empty (syncs consumed it), or every definition with rows in it has
  a retention shorter than the time since the seal and no pending or active sync. A partition is
  dropped instead of deleted row by row: no WAL per row, no dead rows for vacuum, its disk space
  back at once (docs/scaling.md "Growth of the data").

Never dropped: the DEFAULT partition, an unsealed partition, a partition not in
`bulkapi_stagedpartition`. Rows in them (and expired rows in partitions kept for another
definition's sake) go by the row-wise purge, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from psycopg import sql

from kernel.db import Value
from pipeline.models import SyncStatus

PARENT = "bulkapi_stagedrow"
DEFAULT = "bulkapi_stagedrow_default"
SEQUENCE = "bulkapi_stagedrow_id_seq"
PARTITIONS = "bulkapi_stagedpartition"
# Advisory lock key serialising upkeeps and drops ("stagepar").
UPKEEP_LOCK = 0x7374616765706172
# How long a DDL step waits for a lock before giving up till the next run: a waiting ACCESS
# EXCLUSIVE request queues every later reader and writer of the table behind it.
LOCK_TIMEOUT = "2s"
# Added to a definition's retention before a sealed partition counts as expired: the uploads'
# timestamps come from the API hosts' clocks, `sealed_at` from the database's.
CLOCK_SLACK_SECONDS = 3600
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Partition:
    relname: str
    lo: int
    hi: int
    sealed_at: datetime | None


def partitions() -> list[Partition]:
    """The range partitions, by id."""
    with connection.cursor() as cur:
        cur.execute(sql.SQL("SELECT relname, lo, hi, sealed_at FROM {} ORDER BY lo").format(sql.Identifier(PARTITIONS)))
        return [Partition(*row) for row in cur.fetchall()]


def _last_id(cur) -> int:
    cur.execute("SELECT coalesce(pg_sequence_last_value(%s::regclass), 0)", [SEQUENCE])
    return cur.fetchone()[0]


def _short_locks(cur) -> None:
    cur.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [UPKEEP_LOCK])


def staged_partitions_upkeep() -> dict[str, int]:
    """Seal the partitions the sequence has passed and make the ones it will reach next. Safe to
    run at any time, from anywhere, any number of times (an advisory lock takes turns)."""
    width = settings.BULK_STAGING_PARTITION_ROWS
    ahead = settings.BULK_STAGING_PARTITIONS_AHEAD
    created = 0
    with transaction.atomic(durable=True), connection.cursor() as cur:
        _short_locks(cur)
        last = _last_id(cur)
        cur.execute(
            sql.SQL("UPDATE {} SET sealed_at = now() WHERE sealed_at IS NULL AND hi <= %s").format(
                sql.Identifier(PARTITIONS)
            ),
            [last + 1],
        )
        sealed = cur.rowcount
    try:
        with transaction.atomic(durable=True), connection.cursor() as cur:
            _short_locks(cur)
            cur.execute(sql.SQL("SELECT coalesce(max(hi), 1) FROM {}").format(sql.Identifier(PARTITIONS)))
            top = cur.fetchone()[0]
            goal = _last_id(cur) + 1 + ahead * width
            if top < goal:
                # ATTACH takes SHARE UPDATE EXCLUSIVE on the parent (imports and syncs go on) and
                # ACCESS EXCLUSIVE on the default partition, which it checks for rows of the new
                # range; under that lock nothing is being staged into the default partition, so
                # the new range can start above what it holds.
                cur.execute(sql.SQL("LOCK TABLE ONLY {} IN SHARE UPDATE EXCLUSIVE MODE").format(sql.Identifier(PARENT)))
                cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(DEFAULT)))
                cur.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier(DEFAULT)))
                in_default = cur.fetchone()[0]
                lo = max(top, in_default + 1, _last_id(cur) + 1)
                goal = max(goal, lo + width)
                while lo < goal:
                    _attach(cur, lo, lo + width)
                    lo += width
                    created += 1
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        created = 0  # the next run makes them
    return {"created": created, "sealed": sealed}


def _attach(cur, lo: int, hi: int) -> None:
    name = f"{PARENT}_from_{lo}"
    cur.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING INDEXES)").format(
            sql.Identifier(name), sql.Identifier(PARENT)
        )
    )
    cur.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(PARENT), sql.Identifier(name), Value(lo), Value(hi)
        )
    )
    cur.execute(
        sql.SQL("INSERT INTO {} (relname, lo, hi) VALUES (%s, %s, %s)").format(sql.Identifier(PARTITIONS)),
        [name, lo, hi],
    )


def _wanted(cur, partition: Partition) -> bool:
    """Does any row of the partition still count: a definition with rows in it whose retention
    (plus CLOCK_SLACK_SECONDS) has not passed since the seal, or that has a pending or active sync?
    A loose index scan of the key (definition_id, id): one probe per definition in it."""
    cur.execute(
        sql.SQL(
            """
            WITH RECURSIVE defs AS (
              (SELECT definition_id AS id FROM {part} ORDER BY definition_id LIMIT 1)
              UNION ALL
              SELECT (SELECT p.definition_id FROM {part} p WHERE p.definition_id > defs.id
                      ORDER BY p.definition_id LIMIT 1)
              FROM defs WHERE defs.id IS NOT NULL
            )
            SELECT EXISTS (
              SELECT 1 FROM defs
              LEFT JOIN bulkapi_importdefinition d ON d.id = defs.id
              WHERE defs.id IS NOT NULL AND (
                %(sealed)s >= now() - make_interval(secs => coalesce(d.data_retention_seconds, 0) + %(slack)s)
                OR EXISTS (SELECT 1 FROM syncs_sync s WHERE s.definition_id = defs.id AND s.status IN (%(pending)s, %(active)s))
              )
            )
            """
        ).format(part=sql.Identifier(partition.relname)),
        {
            "sealed": partition.sealed_at,
            "slack": CLOCK_SLACK_SECONDS,
            "pending": SyncStatus.PENDING.value,
            "active": SyncStatus.ACTIVE.value,
        },
    )
    return cur.fetchone()[0]


def staged_partitions_drop() -> list[str]:
    """Drop every sealed partition none of whose rows is still wanted (`_wanted`); returns their
    names. Each is checked first without a lock, then again under an ACCESS EXCLUSIVE lock on the
    parent (what dropping a partition takes; no upload or chunk is inside the table then, and
    none can start), and dropped in a short transaction of its own. A lock not had within
    LOCK_TIMEOUT leaves it, and the partitions after it, to the next purge: every reader and
    writer of staged rows queues behind a waiting ACCESS EXCLUSIVE request, so a purge makes
    them wait once at most."""
    dropped = []
    for partition in partitions():
        if partition.sealed_at is None:
            continue
        with connection.cursor() as cur:
            if _wanted(cur, partition):
                continue
        try:
            with transaction.atomic(durable=True), connection.cursor() as cur:
                _short_locks(cur)
                cur.execute(sql.SQL("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(PARENT)))
                cur.execute(
                    sql.SQL("SELECT sealed_at FROM {} WHERE relname = %s").format(sql.Identifier(PARTITIONS)),
                    [partition.relname],
                )
                row = cur.fetchone()
                if row is None or row[0] is None or _wanted(cur, partition):
                    continue
                cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition.relname)))
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE relname = %s").format(sql.Identifier(PARTITIONS)), [partition.relname]
                )
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            break  # the table is busy: one wait of LOCK_TIMEOUT a purge, the rest next time
        dropped.append(partition.relname)
    return dropped
