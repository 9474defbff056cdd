"""Reads of the back office: what the dashboard and the sync/batch pages show, scoped to the user's
site (every site for a superuser)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from batches.models import BatchJob
from batches.selectors import batch_job_state
from bulkapi.models import ImportDefinition, User
from syncs.models import TERMINAL, Reject, Sync, SyncStatus

RECENT = 10  # finished syncs and batch jobs on the dashboard
REJECTS_PAGE = 50  # rejects per page on a sync's page
CSV_BATCH_ROWS = 5000  # rejects per keyset query while streaming the CSV (~1-2 MB of Python objects)


def syncs_for(user: User) -> QuerySet[Sync]:
    qs = Sync.objects.all()
    return qs if user.is_superuser else qs.for_site(user.site_id)


def batch_jobs_for(user: User) -> QuerySet[BatchJob]:
    qs = BatchJob.objects.all()
    return qs if user.is_superuser else qs.for_site(user.site_id)


@dataclass
class Progress:
    """How far a sync has got: the bar, the rate and the time left, as the admin shows them."""

    sync_id: int
    status: str
    total: int
    processed: int
    rejected: int
    created: int
    updated: int
    percent: float
    rate: float | None  # rows per second since the sync started (to its end, once ended)
    eta_seconds: float | None  # at that rate, for a running sync
    elapsed_seconds: float | None

    @property
    def running(self) -> bool:
        return self.status in (SyncStatus.PENDING, SyncStatus.ACTIVE)

    def as_json(self) -> dict:
        return {
            "id": self.sync_id,
            "status": self.status,
            "total": self.total,
            "processed": self.processed,
            "rejected": self.rejected,
            "created": self.created,
            "updated": self.updated,
            "percent": self.percent,
            "rate": self.rate,
            "eta": self.eta_seconds,
            "elapsed": self.elapsed_seconds,
            "running": self.running,
        }


def sync_progress(sync: Sync, now: datetime | None = None) -> Progress:
    now = now or timezone.now()
    total, processed = sync.total_rows, sync.processed
    ended = sync.status in TERMINAL
    percent = round(100.0 * min(processed, total) / total, 1) if total else (100.0 if ended else 0.0)
    elapsed = rate = eta = None
    if sync.sync_started_at is not None:
        elapsed = max(0.0, ((sync.sync_ended_at or now) - sync.sync_started_at).total_seconds())
        if elapsed > 0 and processed:
            rate = processed / elapsed
            if not ended and total > processed:
                eta = (total - processed) / rate
    return Progress(
        sync_id=sync.pk,
        status=sync.status,
        total=total,
        processed=processed,
        rejected=sync.rejected,
        created=sync.created_count,
        updated=sync.updated_count,
        percent=percent,
        rate=rate,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
    )


@dataclass
class SyncRow:
    sync: Sync
    progress: Progress


@dataclass
class JobRow:
    job: BatchJob
    status: str
    stored: int
    errors: int
    processed: int
    percent: float
    progress: Progress | None


@dataclass
class Dashboard:
    running: list[SyncRow]
    recent: list[SyncRow]
    jobs: list[JobRow]


def dashboard_get(*, user: User) -> Dashboard:
    now = timezone.now()
    syncs = syncs_for(user).select_related("definition", "site")
    running = [
        SyncRow(s, sync_progress(s, now))
        for s in syncs.filter(status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).order_by("created_at", "id")
    ]
    recent = [
        SyncRow(s, sync_progress(s, now))
        for s in syncs.filter(status__in=TERMINAL).order_by("-created_at", "-id")[:RECENT]
    ]
    jobs = []
    for job in batch_jobs_for(user).select_related("sync", "site").order_by("-created_at", "-id")[:RECENT]:
        state = batch_job_state(job)
        percent = round(100.0 * state.processed / job.row_count, 1) if job.row_count else 100.0
        progress = sync_progress(job.sync, now) if job.sync is not None else None
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
    from .services import DRAFT_PREFIX

    qs = ImportDefinition.objects.filter(pk=draft_id, is_internal=True, name__startswith=DRAFT_PREFIX)
    if not user.is_superuser:
        qs = qs.for_site(user.site_id)
    return qs.select_related("site").first()
