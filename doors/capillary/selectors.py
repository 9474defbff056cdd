"""Reads of the Capillary door: the caller's series, its jobs, and a job's Capillary status."""

from __future__ import annotations

from dataclasses import dataclass

from doors.batch.models import BatchStatus
from doors.batch.selectors import batch_job_state
from entities.opportunities.catalog import OPPORTUNITY
from kernel.exceptions import NotFound
from kernel.models import Site
from pipeline.models import TERMINAL as SYNC_TERMINAL
from pipeline.models import ImportDefinition

from .models import UploadJob

# The newest jobs `GET` lists (Capillary's call has no paging).
LIST_MAX_JOBS = 100


class UploadStatus:
    """Capillary's `uploadStatus` values, from the job's syncs (README "Capillary coupon upload"):

    STARTED      the opportunity sync is pending (the answer to the upload says this);
    IN_PROGRESS  the opportunity sync is running, or the linkage sync of the customers is pending or
                 running after it;
    COMPLETED    every row was stored (and linked, when tagged: unmatched customers are in the
                 linkage sync's rejects, not errors of the job);
    PARTIALLY_COMPLETED  some rows were stored, some are in the error file;
    FAILED       no row was stored (every row is in the error file), or the sync ended in error.
    """

    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    PARTIALLY_COMPLETED = "PARTIALLY_COMPLETED"
    FAILED = "FAILED"
    ALL = (STARTED, IN_PROGRESS, COMPLETED, PARTIALLY_COMPLETED, FAILED)


_FROM_BATCH = {
    BatchStatus.PENDING: UploadStatus.STARTED,
    BatchStatus.PROCESSING: UploadStatus.IN_PROGRESS,
    BatchStatus.COMPLETE: UploadStatus.COMPLETED,
    BatchStatus.PARTIAL_COMPLETE: UploadStatus.PARTIALLY_COMPLETED,
    BatchStatus.FAILED: UploadStatus.FAILED,
}


@dataclass(frozen=True)
class JobState:
    status: str
    stored: int
    errors: int
    ended: bool


def series_get(*, site: Site, series_id: int) -> ImportDefinition:
    """The site's opportunity import definition `series_id` (the Eloqua door's); else 404."""
    series = (
        ImportDefinition.objects.for_site(site)
        .filter(pk=series_id, entity=OPPORTUNITY.entity, is_internal=False)
        .first()
    )
    if series is None:
        raise NotFound()
    return series


def upload_jobs_list(*, series: ImportDefinition) -> list[UploadJob]:
    """The series' newest jobs (LIST_MAX_JOBS), newest first, with their syncs: one query."""
    return list(
        UploadJob.objects.for_site(series.site)
        .filter(series=series)
        .select_related("batch_job__sync", "link_sync")
        .order_by("-id")[:LIST_MAX_JOBS]
    )


def upload_job_get(*, series: ImportDefinition, job_id: int) -> UploadJob:
    job = (
        UploadJob.objects.for_site(series.site)
        .filter(series=series, pk=job_id)
        .select_related("batch_job__sync", "link_sync")
        .first()
    )
    if job is None:
        raise NotFound()
    return job


def upload_job_state(job: UploadJob) -> JobState:
    """The batch job's state (`doors.batch.selectors.batch_job_state`) in Capillary's terms; a tagged job
    is IN_PROGRESS until its linkage sync has ended too."""
    state = batch_job_state(job.batch_job)
    status = _FROM_BATCH[state.status]
    ended = status not in (UploadStatus.STARTED, UploadStatus.IN_PROGRESS)
    linking = job.link_definition_id is not None and not job.link_error
    if ended and linking and (job.link_sync is None or job.link_sync.status not in SYNC_TERMINAL):
        status, ended = UploadStatus.IN_PROGRESS, False
    return JobState(status=status, stored=state.stored, errors=state.errors, ended=ended)


def upload_job_updated_at(job: UploadJob):
    syncs = (job.batch_job.sync, job.link_sync)
    times = [job.created_at]
    for sync in syncs:
        if sync is not None:
            times += [t for t in (sync.heartbeat_at, sync.sync_ended_at) if t]
    return max(times)
