"""Reads for operators: how far syncs have got, how fast, and how long they still need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from syncs.models import Sync, SyncStatus

RUNNING = (SyncStatus.PENDING, SyncStatus.ACTIVE)


@dataclass(frozen=True)
class SyncProgress:
    done: int  # rows stored or rejected, as committed
    total: int
    percent: float | None
    elapsed_seconds: float | None  # since the sync started, until it ended
    rows_per_second: float | None  # over that time
    eta_seconds: float | None  # at that rate; running syncs only
    idle_seconds: float | None  # since a running sync last committed a chunk


def sync_progress(sync: Sync, *, now: datetime | None = None) -> SyncProgress:
    """Progress from the counters each committed chunk adds to (they move once per chunk)."""
    now = now or timezone.now()
    done, total = sync.processed, sync.total_rows
    running = sync.status in RUNNING
    elapsed = rate = eta = idle = None
    if sync.sync_started_at:
        elapsed = max(((sync.sync_ended_at or now) - sync.sync_started_at).total_seconds(), 0.0)
        rate = done / elapsed if elapsed > 0 else None
        if running and rate:
            eta = max(total - done, 0) / rate
    if running and sync.heartbeat_at:
        idle = max((now - sync.heartbeat_at).total_seconds(), 0.0)
    return SyncProgress(
        done=done,
        total=total,
        percent=100.0 * done / total if total else None,
        elapsed_seconds=elapsed,
        rows_per_second=rate,
        eta_seconds=eta,
        idle_seconds=idle,
    )


def syncs_running() -> QuerySet[Sync]:
    return Sync.objects.filter(status__in=RUNNING).select_related("site").order_by("pk")


def sync_totals_by_status() -> dict[str, dict[str, int]]:
    """Per status: how many syncs, and their rows created, updated, rejected and processed."""
    rows = (
        Sync.objects.order_by()
        .values("status")
        .annotate(
            syncs=Count("pk"),
            created=Sum("created_count", default=0),
            updated=Sum("updated_count", default=0),
            rejected=Sum("rejected", default=0),
            processed=Sum("processed", default=0),
        )
    )
    return {row.pop("status"): row for row in rows}


def syncs_list(*, status: str | None = None, running: bool = False, site: str | None = None, limit: int = 20):
    """The most recent syncs first, with their site and lanes in two more queries."""
    syncs = Sync.objects.select_related("site", "definition").prefetch_related("lane_states").order_by("-pk")
    if running:
        syncs = syncs.filter(status__in=RUNNING)
    if status:
        syncs = syncs.filter(status=status)
    if site:
        syncs = syncs.filter(site__name__iexact=site)
    return list(syncs[:limit])


def sync_reject_counts(sync: Sync) -> list[dict]:
    """Rejected rows by code and message, most frequent first."""
    return list(
        sync.rejects.order_by()
        .values("status_code", "message")
        .annotate(rows=Count("pk"))
        .order_by("-rows", "status_code")
    )


def sync_callback_failures(sync: Sync):
    from .models import CallbackFailure

    return list(CallbackFailure.objects.filter(sync_id=sync.pk).order_by("pk"))
