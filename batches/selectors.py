"""Reads of the batch door: a job's derived status and counts, and its error/success file rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from bulkapi.exceptions import NotFound
from bulkapi.models import Site
from syncs.models import SyncStatus

from .models import TERMINAL, BatchJob, BatchStatus

FILE_BATCH_ROWS = 5000  # rows per keyset query while streaming a file (~1 MB of Python objects)


def batch_job_get(*, site: Site, job_id: str) -> BatchJob:
    job = BatchJob.objects.for_site(site).select_related("sync").filter(uuid=_uuid_or_none(job_id)).first()
    if job is None:
        raise NotFound()
    return job


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass
class JobState:
    status: str
    stored: int
    errors: int
    processed: int


def batch_job_state(job: BatchJob) -> JobState:
    """Status and counts from the job's sync: pending -> pending, active -> processing,
    success -> complete, warning -> partialcomplete (failed if no row was stored), error -> failed
    (rows the sync never reached count as errors)."""
    sync = job.sync
    if sync is None:
        status = BatchStatus.FAILED if job.error_message else BatchStatus.PENDING
        errors = job.row_count if job.error_message else 0
        return JobState(status=status, stored=0, errors=errors, processed=0)
    stored = sync.processed - sync.rejected
    errors = sync.rejected
    if sync.status == SyncStatus.PENDING:
        status = BatchStatus.PENDING
    elif sync.status == SyncStatus.ACTIVE:
        status = BatchStatus.PROCESSING
    elif sync.status == SyncStatus.SUCCESS:
        status = BatchStatus.COMPLETE
    elif sync.status == SyncStatus.WARNING:
        if not sync.rejected:
            status = BatchStatus.COMPLETE
        else:
            status = BatchStatus.PARTIAL_COMPLETE if stored else BatchStatus.FAILED
    else:
        status = BatchStatus.FAILED
        errors = job.row_count - stored
    return JobState(status=status, stored=stored, errors=errors, processed=sync.processed)


def is_terminal(state: JobState) -> bool:
    return state.status in TERMINAL


def batch_success_rows(job: BatchJob) -> Iterator[tuple]:
    """(row number, opportunity uuid, external id) of every stored row, in row order."""
    yield from _keyset(
        """
        SELECT r.row_number, o.uuid::text, o.external_id FROM batches_batchrow r
        LEFT JOIN opportunities_opportunity o ON o.id = r.opportunity_id
        WHERE r.job_id = %s AND r.row_number > %s ORDER BY r.row_number LIMIT %s
        """,
        [job.pk],
    )


def batch_error_rows(job: BatchJob) -> Iterator[tuple]:
    """(row number, reference, code, message) of every row not stored, in row order: the sync's
    rejects, plus, when the job failed, every row the sync never stored."""
    state = batch_job_state(job)
    if job.sync_id is None and state.status != BatchStatus.FAILED:
        return
    if job.sync_id is not None:
        rejects = """
            SELECT j.record_index, j.field_values ->> 'Reference', j.status_code, j.message FROM syncs_reject j
            WHERE j.sync_id = %s AND j.record_index > %s ORDER BY j.record_index LIMIT %s
        """
        if state.status != BatchStatus.FAILED:
            yield from _keyset(rejects, [job.sync_id])
            return
    reason = (job.sync.error_message if job.sync_id else job.error_message) or "The job failed."
    # Failed: rows 1..N, each its reject if there is one, else "not processed" unless it was stored.
    query = """
        SELECT g.n, j.field_values ->> 'Reference', COALESCE(j.status_code, 'not_processed'),
               COALESCE(j.message, %s)
        FROM generate_series(%s::bigint, %s::bigint) g(n)
        LEFT JOIN syncs_reject j ON j.sync_id = %s AND j.record_index = g.n
        WHERE NOT EXISTS (SELECT 1 FROM batches_batchrow r WHERE r.job_id = %s AND r.row_number = g.n)
        ORDER BY g.n
    """
    for lo in range(1, job.row_count + 1, FILE_BATCH_ROWS):
        hi = min(lo + FILE_BATCH_ROWS - 1, job.row_count)
        with connection.cursor() as cur:
            cur.execute(query, [reason, lo, hi, job.sync_id or 0, job.pk])
            rows = cur.fetchall()
        yield from rows


def _keyset(query: str, params: list) -> Iterator[tuple]:
    """Rows of `query` in batches keyed on its first column (never OFFSET)."""
    after = 0
    while True:
        with connection.cursor() as cur:
            cur.execute(query, [*params, after, FILE_BATCH_ROWS])
            rows = cur.fetchall()
        yield from rows
        if len(rows) < FILE_BATCH_ROWS:
            return
        after = rows[-1][0]
