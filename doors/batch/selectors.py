"""Reads of the batch door: a job's derived status and counts, and its error/success file rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from doors.batch.csvfiles import ERROR_COLUMNS, OUTCOME_COLUMNS, SUCCESS_COLUMNS, stored_file_exists, stored_records
from doors.batch.models import TERMINAL, BatchJob, BatchStatus
from kernel.csvcells import unneutralise
from kernel.exceptions import NotFound
from kernel.models import Site
from pipeline.codes import Code
from pipeline.models import SyncStatus

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
    created: int = 0  # of `stored`: rows that created their opportunity ...
    updated: int = 0  # ... and rows that updated one whose Reference the site had


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
    return JobState(
        status=status,
        stored=stored,
        errors=errors,
        processed=sync.processed,
        created=sync.created_count,
        updated=sync.updated_count,
    )


def is_terminal(state: JobState) -> bool:
    return state.status in TERMINAL


# A row the sync neither stored nor rejected (the sync ended in error, or the job could not start).
NOT_PROCESSED = Code.NOT_PROCESSED.pair


def batch_result_file(
    job: BatchJob, *, successes: bool, keep_outcome_columns: bool = False
) -> tuple[list[str], Iterator[list]]:
    """Header and rows of the job's success file (`successes`) or error file, streamed.

    Every data record of the stored file, in file order, goes to exactly one of the two: the
    success file when the sync stored it (its BatchRow), else the error file with the sync's
    reject for it or, failing that, NOT_PROCESSED. A success row's `Outcome` is `created` or
    `updated` (its Reference was known). Each row is the outcome columns, then the
    record's own cells in the file's column order (repeated `Label` columns kept; outcome columns
    of an uploaded result file dropped, unless `keep_outcome_columns`: another door's file, whose
    columns are its own, e.g. an Eloqua key `OpportunityID`). Jobs accepted before files were kept
    have no cells."""
    if stored_file_exists(job.pk):
        header, records = stored_records(job.pk)
    else:
        header, records = [], ((n, []) for n in range(1, job.row_count + 1))
    names = [h.strip().lower() for h in header]
    outcome = {c.lower() for c in OUTCOME_COLUMNS}
    keep = [i for i, name in enumerate(names) if keep_outcome_columns or name not in outcome]
    stage_at = names.index("pipelinestage") if "pipelinestage" in names else None
    created = {s["name"].lower() for s in job.created_stages}
    columns = SUCCESS_COLUMNS if successes else ERROR_COLUMNS

    def rows() -> Iterator[list]:
        if successes:
            stored_rows = """
                SELECT r.row_number, o.uuid::text, o.external_id, r.created FROM batches_batchrow r
                LEFT JOIN opportunities_opportunity o ON o.id = r.opportunity_id
                WHERE r.job_id = %s AND r.row_number > %s ORDER BY r.row_number LIMIT %s
            """
        else:  # the error file only skips them
            stored_rows = """
                SELECT r.row_number FROM batches_batchrow r
                WHERE r.job_id = %s AND r.row_number > %s ORDER BY r.row_number LIMIT %s
            """
        stored = _keyset(stored_rows, [job.pk])
        rejects = _keyset(
            """
            SELECT j.record_index, j.status_code,
                   array_to_string(ARRAY(SELECT jsonb_array_elements_text(j.invalid_fields)), ';'), j.message
            FROM syncs_reject j
            WHERE j.sync_id = %s AND j.record_index > %s ORDER BY j.record_index LIMIT %s
            """,
            [job.sync_id or 0],
        )
        s, r = next(stored, None), next(rejects, None)
        for n, cells in records:
            while s is not None and s[0] < n:
                s = next(stored, None)
            while r is not None and r[0] < n:
                r = next(rejects, None)
            if s is not None and s[0] == n:
                if successes:
                    stage = unneutralise(cells[stage_at]).strip().lower() if stage_at is not None else ""
                    created_here = "true" if stage in created else "false"
                    outcome = "created" if s[3] else "updated"
                    yield [n, s[1] or "", s[2] or "", created_here, outcome, *_cells(cells, keep)]
            elif not successes:
                if r is not None and r[0] == n:
                    code, fields, message = r[1], r[2], r[3]
                else:
                    (code, message), fields = NOT_PROCESSED, ""
                yield [n, code, fields, message, *_cells(cells, keep)]

    return [*columns, *(header[i] for i in keep)], rows()


def _cells(cells: list[str], keep: list[int]) -> list[str]:
    """The record's cells at `keep` (all of them when nothing is dropped)."""
    if len(keep) == len(cells):
        return cells
    return [cells[i] if i < len(cells) else "" for i in keep]


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
