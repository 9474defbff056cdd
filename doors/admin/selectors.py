"""Reads of the back office: what the dashboard and the sync/batch pages show, scoped to the user's
site (every site for a superuser)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from doors.batch.models import BatchJob
from doors.batch.selectors import batch_job_state
from kernel.models import User
from pipeline.models import TERMINAL, ImportDefinition, Reject, Sync, SyncStatus
from pipeline.selectors import SyncProgress, in_flight_rows, sync_progress

RECENT = 10  # finished syncs and batch jobs on the dashboard
REJECTS_PAGE = 50  # rejects per page on a sync's page
CSV_BATCH_ROWS = 5000  # rejects per keyset query while streaming the CSV (~1-2 MB of Python objects)


def syncs_for(user: User) -> QuerySet[Sync]:
    """The user's site's syncs (every site's for a superuser), each with its definition: for a
    site's staff only one of their own site, so a sync a broken link gives another site's
    definition shows none (its name and columns stay out of the dashboard and the rejects CSV)."""
    qs = Sync.objects.all()
    if user.is_superuser:
        return qs.select_related("definition")
    definitions = ImportDefinition.objects.for_site(user.site_id)
    return qs.for_site(user.site_id).prefetch_related(Prefetch("definition", queryset=definitions))


def batch_jobs_for(user: User) -> QuerySet[BatchJob]:
    """The user's site's batch jobs (every site's for a superuser), each with its sync, scoped as
    `syncs_for` scopes a sync's definition."""
    qs = BatchJob.objects.all()
    if user.is_superuser:
        return qs.select_related("sync")
    syncs = Sync.objects.for_site(user.site_id)
    return qs.for_site(user.site_id).prefetch_related(Prefetch("sync", queryset=syncs))


@dataclass
class SyncRow:
    sync: Sync
    progress: SyncProgress


@dataclass
class JobRow:
    job: BatchJob
    status: str
    stored: int
    errors: int
    processed: int
    percent: float
    progress: SyncProgress | None


@dataclass
class Dashboard:
    running: list[SyncRow]
    recent: list[SyncRow]
    jobs: list[JobRow]


def dashboard_get(*, user: User) -> Dashboard:
    now = timezone.now()
    syncs = syncs_for(user).select_related("site")
    live = list(syncs.filter(status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).order_by("created_at", "id"))
    flight = in_flight_rows(s.pk for s in live)
    running = [SyncRow(s, sync_progress(s, now=now, in_flight=flight.get(s.pk, 0))) for s in live]
    recent = [
        SyncRow(s, sync_progress(s, now=now, in_flight=0))
        for s in syncs.filter(status__in=TERMINAL).order_by("-created_at", "-id")[:RECENT]
    ]
    jobs = []
    for job in batch_jobs_for(user).select_related("site").order_by("-created_at", "-id")[:RECENT]:
        state = batch_job_state(job)
        percent = round(100.0 * state.processed / job.row_count, 1) if job.row_count else 100.0
        progress = sync_progress(job.sync, now=now) if job.sync is not None else None
        jobs.append(JobRow(job, state.status, state.stored, state.errors, state.processed, percent, progress))
    return Dashboard(running=running, recent=recent, jobs=jobs)


def sync_rejects_page(*, sync: Sync, after: int = 0, limit: int = REJECTS_PAGE) -> list[Reject]:
    """One page of the sync's rejects in record order, keyed on the record index (no OFFSET)."""
    return list(Reject.objects.filter(sync=sync, record_index__gt=after).order_by("record_index", "id")[:limit])


def sync_reject_rows(*, sync: Sync) -> Iterator[tuple[int, str, str, list, dict]]:
    """Every reject of the sync: (record index, code, message, invalid fields, values), in record
    order, read in keyset batches so memory stays flat whatever the count."""
    after = 0
    while True:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT record_index, status_code, message, invalid_fields, field_values FROM syncs_reject"
                " WHERE sync_id = %s AND record_index > %s ORDER BY record_index LIMIT %s",
                [sync.pk, after, CSV_BATCH_ROWS],
            )
            rows = cur.fetchall()
        yield from rows
        if len(rows) < CSV_BATCH_ROWS:
            return
        after = rows[-1][0]


def import_draft_get(*, user: User, draft_id: int) -> ImportDefinition | None:
    """The user's site's draft (any site's for a superuser), or None."""
    from doors.admin.services import DRAFT_PREFIX

    qs = ImportDefinition.objects.filter(pk=draft_id, is_internal=True, name__startswith=DRAFT_PREFIX)
    if not user.is_superuser:
        qs = qs.for_site(user.site_id)
    return qs.select_related("site").first()
