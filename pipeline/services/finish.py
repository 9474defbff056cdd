"""Ending a sync: its summary logs and terminal status, and, when it ends in `error` (a failure no
retry can fix, or a cancel), every row it did not reach returned as a reject of its own code, so
that every staged row of the snapshot is stored or rejected exactly once whatever happens."""

from __future__ import annotations

import logging

import psycopg
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from psycopg import sql

from kernel.db import Value
from kernel.exceptions import Conflict, Failure, NotFound
from pipeline.catalog import mappings_for
from pipeline.codes import Code
from pipeline.faults import BROKER_ERRORS
from pipeline.models import TERMINAL, Reject, Severity, StagedRow, StagedUpload, Sync, SyncLane, SyncLog, SyncStatus
from pipeline.processors import end_hooks, finish_logs_for, lane_key_for, staged_chunk
from pipeline.sql import reject_into, staged_rows

logger = logging.getLogger(__name__)

# Rows a sync did not reach when it ended in error, or was cancelled: rejects with these codes, so a
# client can upload exactly those rows again, or `sync_retry` them.
NOT_PROCESSED = Code.NOT_PROCESSED.pair
CANCELLED = Code.CANCELLED.pair
RETRYABLE_CODES = (NOT_PROCESSED[0], CANCELLED[0])


# The columns `finish` (and a cancel before it) writes.
ENDING_FIELDS = [
    "status", "sync_started_at", "sync_ended_at", "heartbeat_at", "processed", "rejected", "error_message",
    "cancelled_by",
]  # fmt: skip


def locked(sync_id: int) -> Sync:
    return Sync.objects.select_for_update(no_key=True, of=("self",)).select_related("definition").get(pk=sync_id)


def _log(sync: Sync, code: str, message: str, count: int = 0, severity: str = Severity.INFORMATION) -> SyncLog:
    return SyncLog(sync=sync, status_code=code, message=message, count=count, severity=severity)


def finish(sync: Sync, status: str, error: str = "", unprocessed: tuple[str, str] = NOT_PROCESSED) -> None:
    """Write the summary logs and the terminal status, with `sync` locked (`locked`); the callback
    goes out after commit. An `error` ends with the rows no lane reached as `unprocessed` rejects."""
    logs = []
    if status == SyncStatus.ERROR:
        missed, unlisted = _return_unprocessed(sync, unprocessed)
        sync.processed += missed
        sync.rejected += missed
        if unlisted:
            logs.append(_log(sync, UNLISTED[0], UNLISTED[1], unlisted, Severity.ERROR))
    if status != SyncStatus.ERROR or sync.total_rows:
        logs += _upload_logs(sync)
        logs.append(_log(sync, *Code.TOTAL_STAGED.pair, sync.total_rows))
    if sync.total_rows == 0 and status != SyncStatus.ERROR:
        logs.append(_log(sync, *Code.NO_DATA.pair))
    logs.append(_log(sync, *Code.TOTAL_PROCESSED.pair, sync.processed))
    logs.append(_log(sync, *Code.TOTAL_NEW.pair, sync.created_count))
    logs.append(_log(sync, *Code.TOTAL_UPDATED.pair, sync.updated_count))
    entity_logs = finish_logs_for(sync.definition.entity) if sync.definition is not None else None
    if entity_logs is not None:
        logs += entity_logs(sync)
    reasons = (
        Reject.objects.filter(sync=sync)
        .values("status_code", "message")
        .annotate(n=Count("id"))
        .order_by("status_code")
    )
    for reason in reasons:
        logs.append(_log(sync, reason["status_code"], reason["message"], reason["n"], Severity.WARNING))
    logs.append(
        _log(
            sync,
            *Code.TOTAL_REJECTED.pair,
            sync.rejected,
            Severity.WARNING if sync.rejected else Severity.INFORMATION,
        )
    )
    if sync.cancelled_by:
        logs.append(
            _log(sync, Code.CANCELLED_BY, Code.CANCELLED_BY.message.format(user=sync.cancelled_by), 0, Severity.ERROR)
        )
    elif error:
        logs.append(_log(sync, Code.FAILED, error, 0, Severity.ERROR))
    if error:
        sync.error_message = error
    logs.append(_log(sync, *Code.STAGING_DELETED.pair))
    logs.append(
        _log(
            sync,
            Code.SYNC_PROCESSED,
            Code.SYNC_PROCESSED.message.format(sync=sync.pk, status=status),
            0,
            Severity.ERROR if status == SyncStatus.ERROR else Severity.INFORMATION,
        )
    )
    SyncLog.objects.bulk_create(logs)
    if sync.definition_id is not None:
        # The rest of the snapshot's staged rows (lanes delete the ranges they are all past) are
        # consumed too, whatever the outcome (ELQ-00131 above): stored, rejected, or returned as
        # `unprocessed` rejects.
        StagedRow.objects.filter(definition_id=sync.definition_id, id__lte=sync.upto_id).delete()
    now = timezone.now()
    sync.status = status
    sync.sync_started_at = sync.sync_started_at or now
    sync.sync_ended_at = now
    sync.heartbeat_at = now
    # Only what ending changes. A full-row save writes `retry_of_id` too, a column with a unique
    # index: PostgreSQL counts even NULL -> NULL as a key change and wants FOR UPDATE, which waits
    # for the FOR KEY SHARE a running chunk's reject took on this row while that chunk waits for
    # our lock: a deadlock that failed cancels under load.
    sync.save(update_fields=ENDING_FIELDS)
    for hook in end_hooks():
        hook(sync)
    if sync.callback_url:
        from pipeline.tasks import sync_callback

        transaction.on_commit(lambda: _send_callback(sync_callback, sync.pk))


def _send_callback(task, sync_id: int) -> None:
    from pipeline.services.create import PUBLISH_RETRY

    try:
        task.apply_async((sync_id,), retry=True, retry_policy=PUBLISH_RETRY)
    except BROKER_ERRORS as exc:
        logger.error("sync %s: its callback could not be queued (%r)", sync_id, exc)


def _return_unprocessed(sync: Sync, reason: tuple[str, str]) -> tuple[int, int]:
    """(rows returned, rows of those that could not be listed as rejects). Ending a sync never
    fails on this step: when listing them does, the rows of the ranges no lane has started are
    listed without lanes, and the rest only counted (`UNLISTED`), so the counters still add up."""
    try:
        with transaction.atomic():
            return _reject_unprocessed(sync, reason), 0
    except (DatabaseError, psycopg.DatabaseError) as exc:
        logger.error("sync %s: the rows not processed could not be listed by lane (%r)", sync.pk, exc)
    missed = max(0, sync.total_rows - sync.processed)
    started = max(SyncLane.objects.filter(sync=sync).values_list("next_range", flat=True), default=0)
    listed = 0
    if sync.definition_id is not None and started < len(sync.range_ends):
        with connection.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "{} SELECT %s, %s + row_number() OVER (ORDER BY s.id), s.data, '[]'::jsonb, %s, %s"
                    " FROM {} s WHERE s.definition_id = %s AND s.id > %s AND s.id <= %s"
                ).format(reject_into(), staged_rows()),
                [sync.pk, rows_before(sync, started), *reason, sync.definition_id,
                 sync.range_ends[started - 1] if started else 0, sync.upto_id],
            )  # fmt: skip
            listed = cur.rowcount
    return missed, missed - listed


# Rows not processed that could not be listed one by one (see `_return_unprocessed`).
UNLISTED = Code.UNLISTED.pair


def _reject_unprocessed(sync: Sync, reason: tuple[str, str]) -> int:
    """Every staged row of the snapshot that no lane stored or rejected becomes a `reason` reject:
    for each lane, the lane's rows of each range from its resume point on. Lanes only commit while
    the sync is active, and the caller holds the lock that ends it, so the lanes' positions read
    here are final."""
    definition = sync.definition
    if definition is None or not sync.range_ends:
        return 0
    mappings = mappings_for(definition)
    lane_key = lane_key_for(definition.entity, definition, mappings) if sync.lanes > 1 else None
    positions = dict(SyncLane.objects.filter(sync=sync).values_list("lane", "next_range"))
    missed = 0
    with connection.cursor() as django_cur:
        cur = django_cur.cursor
        for lane in range(sync.lanes):
            for r in range(positions.get(lane, 0), len(sync.range_ends)):
                source = staged_chunk(
                    definition_id=definition.pk,
                    lo=sync.range_ends[r - 1] if r else 0,
                    hi=sync.range_ends[r],
                    base=rows_before(sync, r),
                    offset=sync.upto_id - sync.total_rows if sync.dense else None,
                    lane=lane,
                    lanes=sync.lanes,
                    lane_key=lane_key,
                    bounds=sync.lane_bounds,
                )
                cur.execute(
                    sql.SQL("{} SELECT {}, q.rec, q.data, '[]'::jsonb, {}, {} FROM {} q ORDER BY q.rec").format(
                        reject_into(), Value(sync.pk), Value(reason[0]), Value(reason[1]), source
                    )
                )
                missed += cur.rowcount
    if missed:
        logger.warning("sync %s: %s rows not processed, returned as %s rejects", sync.pk, missed, reason[0])
    return missed


def _upload_logs(sync: Sync) -> list[SyncLog]:
    if sync.definition is None:
        return []
    keys = list(sync.definition.field_map)
    logs = []
    for upload in StagedUpload.objects.filter(sync=sync).order_by("id"):
        name = f"upload {upload.pk}"
        for column in upload.columns:
            if column not in keys:
                logs.append(
                    _log(
                        sync,
                        Code.FIELD_NOT_IN_DEFINITION,
                        Code.FIELD_NOT_IN_DEFINITION.message.format(field=column),
                        0,
                        Severity.WARNING,
                    )
                )
        if upload.content_type == "text/csv" or upload.row_count:
            for key in keys:
                if key not in upload.columns:
                    logs.append(
                        _log(
                            sync,
                            Code.FIELD_NOT_IN_FILE,
                            Code.FIELD_NOT_IN_FILE.message.format(field=key, file=name),
                            0,
                            Severity.WARNING,
                        )
                    )
    return logs


def sync_fail(*, sync_id: int, reason: str) -> None:
    """End a sync in `error` after a failure no retry can fix; what earlier chunks committed stays,
    and the rows no lane reached become `NOT_PROCESSED` rejects. Does nothing to an ended sync."""
    with transaction.atomic(durable=True):
        sync = Sync.objects.select_for_update(no_key=True, of=("self",)).filter(pk=sync_id).first()
        if sync is None or sync.status in TERMINAL:
            return
        finish(sync, SyncStatus.ERROR, error=reason[:2000])


def sync_cancel(*, sync_id: int, by: str) -> Sync:
    """Stop a pending or active sync: a chunk in flight commits before this (and stays) or finds
    the sync ended and rolls back; the rows not reached become `CANCELLED` rejects; status `error`
    (Eloqua clients know only five statuses) with a log naming who cancelled. Conflict when the
    sync has already ended."""
    with transaction.atomic(durable=True):
        sync = Sync.objects.select_for_update(no_key=True, of=("self",)).filter(pk=sync_id).first()
        if sync is None:
            raise NotFound()
        if sync.status in TERMINAL:
            raise Conflict(
                [Failure(field="status", value=sync.status, constraint="The sync has already ended.")],
                message="The sync has already ended.",
            )
        sync.cancelled_by = (by or "?")[:150]
        finish(sync, SyncStatus.ERROR, error=f"Cancelled by {sync.cancelled_by}.", unprocessed=CANCELLED)
    logger.info("sync %s cancelled by %s", sync_id, sync.cancelled_by)
    return sync


def rows_before(sync: Sync, r: int) -> int:
    """Staged rows of the snapshot's ranges before range `r` (all full but the last)."""
    if r == 0:
        return 0
    head = sync.first_range_rows if sync.first_range_rows is not None else sync.range_rows
    return head + (r - 1) * sync.range_rows
