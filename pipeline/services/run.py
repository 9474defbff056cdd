"""Running a sync: one chunk of one lane per call.

A sync's snapshot is cut into ranges of staged ids; each of its lanes works through every range in
order, taking the rows whose identifier falls in that lane's stretch of identifiers (lane 0 first
runs the short range 0 alone, then starts the others). Lanes are independent chains of Celery
tasks, so several workers run one sync side by side, and no two lanes write the same record.

Crash safety: each chunk commits its records, rejects, the sync's counters and its lane's next
range in one transaction, under a row lock on the lane, and only while the sync is still active
(checked under the sync's row lock, the lock that ends a sync). A worker killed mid-chunk rolls the
chunk back whole; whoever runs that lane next (the redelivered task, or beat's resume) redoes the
range, so every staged row ends up stored or rejected exactly once. A chunk that a cancel or an
error overtook rolls back whole instead of committing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import sql
from psycopg.types.json import Jsonb

from kernel.db import Value
from kernel.logging import bind_log_context, log_context
from pipeline.catalog import Mapping, mappings_for
from pipeline.codes import Code
from pipeline.models import TERMINAL, ImportDefinition, StagedRow, Sync, SyncLane, SyncLog, SyncStatus
from pipeline.planner import chunk_settings
from pipeline.processors import (
    ChunkResult,
    ConcurrentWrite,
    lane_key_for,
    registration_for,
    staged_chunk,
    statistics_tables,
)
from pipeline.selectors import PROGRESS_PREFIX
from pipeline.services.create import enqueue_run
from pipeline.services.finish import finish, locked, rows_before
from pipeline.sql import reject_into, staged_rows

logger = logging.getLogger(__name__)

# How long a chunk waits for its lane's row lock before leaving the lane to its holder for now.
LANE_LOCK_WAIT_MS = 5000

# Runs of one chunk in a row when another writer takes a key it was creating (`ConcurrentWrite`);
# each run sees more of the other writer's records committed, so two or three suffice.
CONCURRENT_WRITE_ATTEMPTS = 5


@dataclass
class RunResult:
    has_more: bool
    next_range: int | None = None


class _SyncEnded(Exception):
    """The sync ended (cancelled, failed) while this chunk ran: the chunk must not commit."""


def sync_run_chunk(*, sync_id: int, lane: int = 0, at_range: int | None = None) -> RunResult:
    """Process the lane's next range of the sync, or finish the sync once every lane is through.
    Idempotent; safe to rerun, and lanes of one sync run side by side.

    `at_range`: the range the caller means to run; when the lane is elsewhere (it ran it already,
    or another message for it is running now) this call does nothing, so duplicate messages for a
    lane collapse into one chain."""
    with log_context(sync_id=sync_id):
        _activate(sync_id)
        _refresh_stale_statistics(sync_id)
        for attempt in range(1, CONCURRENT_WRITE_ATTEMPTS + 1):
            try:
                return _run(sync_id, lane, at_range)
            except ConcurrentWrite:
                if attempt == CONCURRENT_WRITE_ATTEMPTS:
                    raise  # transient: the task retries it later
                logger.info("sync %s lane %s: another writer took keys of this chunk; running it again", sync_id, lane)
            except _SyncEnded:
                logger.info("sync %s ended while lane %s ran a chunk; the chunk was rolled back", sync_id, lane)
                return RunResult(has_more=False)
    raise AssertionError("unreachable")


def _run(sync_id: int, lane: int, at_range: int | None) -> RunResult:
    with transaction.atomic(durable=True):
        # A lane's row is locked by whoever runs its chunk right now: a second message for the lane
        # (a duplicate, a requeue, or the redelivery of a killed worker's task, whose backend may
        # still run its statement) waits a little, then gives up with a transient error and is
        # retried later, when it either finds the lane moved on (and does nothing) or takes over.
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", [f"{LANE_LOCK_WAIT_MS}ms"])
            state = SyncLane.objects.select_for_update().filter(sync_id=sync_id, lane=lane).first()
            cur.execute("SET LOCAL lock_timeout = 0")
        sync = Sync.objects.select_related("site", "definition__site").filter(pk=sync_id).first()
        if state is None or sync is None or sync.status in TERMINAL:
            return RunResult(has_more=False)
        if at_range is not None and state.next_range != at_range:
            return _passed_on(state, sync)
        bind_log_context(site=sync.site.name)
        definition = sync.definition
        if definition is None:  # syncs made before definitions with running syncs became undeletable
            finish(locked(sync_id), SyncStatus.ERROR, error="The import definition has been deleted.")
            return RunResult(has_more=False)
        ranges = len(sync.range_ends)
        if lane > 0 and SyncLane.objects.filter(sync_id=sync_id, lane=0, next_range=0).exists():
            return RunResult(has_more=False)  # lane 0 starts this lane when through range 0
        if state.next_range < ranges:
            started = time.monotonic()
            result = _process(state, sync, definition)
            _commit_counters(sync_id, result)
            state.next_range += 1
            state.heartbeat_at = timezone.now()
            state.overruns = 0
            state.save(update_fields=["next_range", "heartbeat_at", "overruns"])
            _consume_passed_ranges(state, sync, definition)
            if lane == 0 and state.next_range == 1 and sync.lanes > 1:
                _start_other_lanes(sync)
            logger.info(
                "sync chunk done: lane %s range %s of %s, %s rows in %.2f s",
                lane,
                state.next_range,
                ranges,
                result.processed,
                time.monotonic() - started,
            )
        if state.next_range < ranges:
            return RunResult(has_more=True, next_range=state.next_range)
        # This lane is through. The last lane to get here (under the sync's row lock, so two
        # lanes ending together see each other) finishes the sync.
        sync = locked(sync_id)
        if sync.status not in TERMINAL and not SyncLane.objects.filter(sync_id=sync_id, next_range__lt=ranges).exists():
            finish(sync, SyncStatus.WARNING if sync.rejected else SyncStatus.SUCCESS)
    return RunResult(has_more=False)


def _passed_on(state: SyncLane, sync: Sync) -> RunResult:
    """A message for a range the lane has left. Usually a duplicate: the lane's own chain goes on,
    and this one stops. But a worker killed just after committing a chunk never sent the lane's
    next message, and its redelivered message lands here: when the lane has been quiet for
    `BULK_SYNC_STALL_SECONDS`, this message carries the lane on (as beat's resume would)."""
    quiet = timezone.now() - (state.heartbeat_at or sync.created_at)
    if state.next_range < len(sync.range_ends) and quiet.total_seconds() > settings.BULK_SYNC_STALL_SECONDS:
        logger.info("sync %s lane %s: quiet for %.0f s; carried on at range %s", sync.pk, state.lane,
                    quiet.total_seconds(), state.next_range)  # fmt: skip
        return RunResult(has_more=True, next_range=state.next_range)
    return RunResult(has_more=False)


def _commit_counters(sync_id: int, result: ChunkResult) -> None:
    """Add the chunk's counts to the sync, only while it is active: the sync's row lock taken here
    is the one that ends a sync, so a chunk either commits before a cancel or failure sees it, or
    finds the sync ended and rolls back whole (nothing writes to a sync after it has ended)."""
    extra = sql.SQL("extra_counts")
    for key, value in sorted(result.extra.items()):
        extra = sql.SQL("jsonb_set({}, {}, to_jsonb(COALESCE((extra_counts ->> {})::bigint, 0) + {}))").format(
            extra, Value([key]), Value(key), Value(value)
        )
    with connection.cursor() as cur:
        # Deferred foreign-key checks run now, so the sync row below stays locked only for the
        # commit itself and other lanes hardly wait for it.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.cursor.execute(
            sql.SQL(
                "UPDATE syncs_sync SET processed = processed + {processed}, rejected = rejected + {rejected},"
                " created_count = created_count + {created}, updated_count = updated_count + {updated},"
                " extra_counts = {extra}, heartbeat_at = now() WHERE id = {sync} AND status = {status}"
            ).format(
                processed=Value(result.processed),
                rejected=Value(result.rejected),
                created=Value(result.created),
                updated=Value(result.updated),
                extra=extra,
                sync=Value(sync_id),
                status=Value(SyncStatus.ACTIVE.value),
            )
        )
        if cur.cursor.rowcount == 0:
            raise _SyncEnded


def _start_other_lanes(sync: Sync) -> None:
    """Lane 0 is through range 0 (this transaction commits it): analyse the tables the sync fills,
    with the rows just written counted, and enqueue the other lanes once that commits.

    Lanes start one range apart for their plans' sake. A lane planning its chunk while another
    fills a table the statistics call empty (or know only other sites of) finds every plan for
    matching a staged row about as cheap, and the cheapest one (the site's stretch of an index,
    walked per row) reads each row the other lane inserts, once per staged row: a lane's first
    chunk ran for minutes that way. Range 0 is short, so the others hardly wait."""
    with connection.cursor() as cur:
        for table in registration_for(sync.definition.entity).writes:
            _analyse(cur, table)
    SyncLane.objects.filter(sync_id=sync.pk, lane__gt=0).update(heartbeat_at=timezone.now())
    enqueue_run(sync.pk, range(1, sync.lanes), at_range=0)


def _consume_passed_ranges(state: SyncLane, sync: Sync, definition: ImportDefinition) -> None:
    """Delete from staging the ranges every lane is past (until then other lanes need all their
    rows: record indexes count every lane's rows) that are this lane's turn (range mod lanes).

    Turns spread the deletes over the lanes, alongside the other lanes' work rather than all at the
    end. A lane deletes its turns whenever it finishes a chunk, so one that was ahead when a range
    was passed deletes it on its next chunk; what no lane got to (the last ranges, the turns of a
    lane that ended first) is left to `finish`."""
    others = SyncLane.objects.filter(sync_id=sync.pk).exclude(lane=state.lane).values_list("next_range", flat=True)
    passed = min([state.next_range, *others])  # ranges below this are done by every lane
    if passed <= state.consumed_upto:
        return
    for r in range(state.consumed_upto, passed):
        if r % sync.lanes != state.lane:
            continue
        lo = sync.range_ends[r - 1] if r else 0
        StagedRow.objects.filter(definition_id=definition.pk, id__gt=lo, id__lte=sync.range_ends[r]).delete()
    state.consumed_upto = passed
    state.save(update_fields=["consumed_upto"])


def _activate(sync_id: int) -> None:
    """pending -> active, once, in a short transaction of its own (lanes would queue behind it)."""
    with transaction.atomic(durable=True):
        started = Sync.objects.filter(pk=sync_id, status=SyncStatus.PENDING).update(
            status=SyncStatus.ACTIVE, sync_started_at=timezone.now(), heartbeat_at=timezone.now()
        )
        if started:
            SyncLog.objects.create(
                sync_id=sync_id,
                status_code=Code.READY,
                message=Code.READY.message,
                severity="information",
            )


# Tables syncs write and match against (each entity registers its own: register_statistics). A
# table that a sync (or a first import) has just filled still looks empty to the planner until
# autovacuum analyses it, and the planner then seq-scans it once per staged row: a 20,000-row batch
# chunk took 167 s that way, 5 s with fresh statistics.
#
# Only the columns sync plans find rows by are analysed; the row count comes with any analysis.
# Statistics of the other columns (names, jsonb, dates: sorting 30,000 sampled values each) serve
# no sync plan and were most of the cost: a full ANALYZE of 120,000 opportunities took 1.1 s, these
# three columns 0.2 s (an update sync of 100,000 rows ran two, 3.7 s of its 17 s). Autovacuum's own
# analyses still cover every column and the expression indexes (lower(external_id), lower(email)).
def _analysed_columns() -> dict[str, tuple[str, ...]]:
    return {StagedRow._meta.db_table: ("definition_id", "id"), **statistics_tables()}


# Advisory lock key serialising the statistics refresh of concurrent chunks ("syncstat").
STATISTICS_LOCK = 0x73796E6373746174


def _refresh_stale_statistics(sync_id: int) -> None:
    """ANALYZE the target tables whose statistics a lane's next chunk should not be planned on:

    - changed by more than four times the rows their last analysis counted (`reltuples`): a table
      filling up from empty is so analysed once it has rows, then at about 5x and 25x that; in
      between, the planner scales its row count by the table's physical growth;
    - changed by more than 1,000 rows and not analysed since this sync started (checked before
      every chunk: with lanes by key range, a lane may start its first busy range after another
      lane filled the table). This catches a site new to a table: statistics that know every other
      site estimate about one row for it, and then a lookup of one external id may use any index
      that starts with the site (the unique (site, external_id) one, for a case-insensitive
      lookup) and read all the site's rows per staged row. A batch sync of a new site stalled
      for minutes on its second chunk that way.

    Staged rows are partitioned (pipeline.partitions): each partition counts as a table of its own.
    In its own short transaction, one lane at a time (an advisory lock): a lane that finds another
    analysing waits for it, then sees fresh statistics, so no lane plans its chunk on stale ones."""
    with transaction.atomic(durable=True), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [STATISTICS_LOCK])
        cur.execute("SELECT sync_started_at FROM syncs_sync WHERE id = %s", [sync_id])
        row = cur.fetchone()
        cur.execute(
            "SELECT t.relname FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid"
            " WHERE (t.relname = ANY(%s) OR t.relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass))"
            " AND t.n_mod_since_analyze > 1000 AND ("
            "  t.n_mod_since_analyze > 4 * c.reltuples"
            "  OR coalesce(greatest(t.last_analyze, t.last_autoanalyze), '-infinity') < %s)",
            [list(_analysed_columns()), StagedRow._meta.db_table, row[0] if row and row[0] else "-infinity"],
        )
        for (table,) in cur.fetchall():
            _analyse(cur, table)


def _analyse(cur, table: str) -> None:
    """ANALYZE `table`, on the columns plans need (registered) where not all of them. Staged rows
    are partitioned (pipeline.partitions): their partitions, which the chunks' plans read (pruned
    by id range), count and are analysed, each on the parent's columns."""
    staged = StagedRow._meta.db_table
    columns = _analysed_columns().get(staged if table.startswith(f"{staged}_") else table)
    cur.execute(
        sql.SQL("ANALYZE {}{}").format(
            sql.Identifier(table),
            sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, columns))) if columns else sql.SQL(""),
        )
    )


@dataclass
class _Span:
    """What a chunk's processor needs, for the lane's current range or any part of it."""

    sync: Sync
    definition: ImportDefinition
    mappings: list[Mapping]
    lane: int
    lane_key: sql.Composable | None

    @property
    def offset(self) -> int | None:
        return self.sync.upto_id - self.sync.total_rows if self.sync.dense else None

    def source(self, lo: int, hi: int, base: int) -> sql.Composable:
        return staged_chunk(
            definition_id=self.definition.pk,
            lo=lo,
            hi=hi,
            base=base,
            offset=self.offset,
            lane=self.lane,
            lanes=self.sync.lanes,
            lane_key=self.lane_key,
            bounds=self.sync.lane_bounds,
            progress=progress_label(self.sync.pk, self.lane),
        )


def _process(state: SyncLane, sync: Sync, definition: ImportDefinition) -> ChunkResult:
    """Run the entity's processor on the lane's current range."""
    mappings = mappings_for(definition)
    r = state.next_range
    span = _Span(
        sync=sync,
        definition=definition,
        mappings=mappings,
        lane=state.lane,
        lane_key=lane_key_for(definition.entity, definition, mappings) if sync.lanes > 1 else None,
    )
    with connection.cursor() as cur:
        # A statement that cannot finish is cancelled by the server before the task's soft time
        # limit, so the chunk rolls back and its lane counts an overrun (`sync_chunk_overran`).
        chunk_settings(cur, statement_timeout=f"{chunk_statement_timeout_ms()}ms")
        return _process_span(
            cur.cursor, span, lo=sync.range_ends[r - 1] if r else 0, hi=sync.range_ends[r], base=rows_before(sync, r)
        )


# What a row the judging let through can still hit while being written: a value out of a type's
# range or too long for its column, a constraint, a reference deleted meanwhile.
ROW_ERRORS = (psycopg.DataError, psycopg.IntegrityError, DataError, IntegrityError)


def _process_span(cur, span: _Span, *, lo: int, hi: int, base: int) -> ChunkResult:
    """The processor over the lane's staged rows with lo < id <= hi, in a savepoint. When it fails
    on a row (`ROW_ERRORS`), the span is halved until that row is alone, and the row becomes a
    reject naming what could not be stored: one bad row never fails or stalls the rest of the sync.
    The judging SQL rejects the bad values it knows; this is the net under it."""
    try:
        with transaction.atomic():
            return registration_for(span.definition.entity).processor(
                cur,
                sync_id=span.sync.pk,
                site_id=span.sync.site_id,
                definition=span.definition,
                mappings=span.mappings,
                source=span.source(lo, hi, base),
            )
    except ROW_ERRORS as exc:
        cur.execute(sql.SQL("SELECT q.sid, q.rec FROM {} q ORDER BY q.sid").format(span.source(lo, hi, base)))
        rows = cur.fetchall()
        if not rows:
            raise
        if len(rows) == 1:
            return _reject_unwritable(cur, span, sid=rows[0][0], rec=rows[0][1], exc=exc)
        mid = rows[len(rows) // 2 - 1][0]
        left = _process_span(cur, span, lo=lo, hi=mid, base=base)
        right_base = base if span.offset is not None else base + _staged_between(cur, span.definition.pk, lo, mid)
        return left + _process_span(cur, span, lo=mid, hi=hi, base=right_base)


def _staged_between(cur, definition_id: int, lo: int, hi: int) -> int:
    cur.execute(
        "SELECT count(*) FROM bulkapi_stagedrow WHERE definition_id = %s AND id > %s AND id <= %s",
        [definition_id, lo, hi],
    )
    return cur.fetchone()[0]


UNWRITABLE = Code.MALFORMED.pair


def _reject_unwritable(cur, span: _Span, *, sid: int, rec: int, exc: Exception) -> ChunkResult:
    diag = getattr(exc, "diag", None) or getattr(exc.__cause__, "diag", None)
    column = getattr(diag, "column_name", None)
    fields = [m.key for m in span.mappings if column and m.field.column == column]
    cur.execute(
        sql.SQL(
            "{} SELECT %s, %s, s.data, %s::jsonb, %s, %s FROM {} s WHERE s.definition_id = %s AND s.id = %s"
        ).format(reject_into(), staged_rows()),
        [span.sync.pk, rec, Jsonb(fields), *UNWRITABLE, span.definition.pk, sid],
    )
    logger.warning(
        "sync %s: record %s could not be written and is rejected (%s): %s",
        span.sync.pk,
        rec,
        UNWRITABLE[0],
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
    return ChunkResult(processed=1, rejected=1, created=0, updated=0)


def chunk_statement_timeout_ms() -> int:
    """Nine tenths of the task's soft time limit: the statement is cancelled first."""
    return max(1000, int(settings.CELERY_TASK_SOFT_TIME_LIMIT * 900))


def sync_chunk_overran(*, sync_id: int, lane: int) -> bool:
    """A chunk of `lane` ran past its time limit and rolled back: count it, and end the sync in
    `error` (its rows returned as rejects) once the lane's current range has done so
    BULK_SYNC_CHUNK_OVERRUNS times in a row. Returns whether the sync was ended."""
    from pipeline.services.finish import sync_fail

    with transaction.atomic(durable=True):
        state = SyncLane.objects.select_for_update().filter(sync_id=sync_id, lane=lane).first()
        if state is None:
            return False
        state.overruns += 1
        state.save(update_fields=["overruns"])
        limit = settings.BULK_SYNC_CHUNK_OVERRUNS
        if state.overruns < limit:
            logger.warning("sync %s lane %s: range %s ran past its time limit (%s of %s)", sync_id, lane,
                           state.next_range, state.overruns, limit)  # fmt: skip
            return False
        failed_range = state.next_range
    logger.error("sync %s lane %s: range %s ran past its time limit %s times; the sync ends", sync_id, lane,
                 failed_range, limit)  # fmt: skip
    sync_fail(
        sync_id=sync_id,
        reason=f"A part of this sync ran past its time limit {limit} times in a row; the rows it did not reach"
        " are returned as rejects.",
    )
    return True


def progress_label(sync_id: int, lane: int) -> str:
    return f"{PROGRESS_PREFIX}{sync_id}:{lane}:"
