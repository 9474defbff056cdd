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
