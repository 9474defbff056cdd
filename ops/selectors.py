"""Reads for operators: how far syncs have got, how fast, and how long they still need."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum

from pipeline.models import Sync
from pipeline.selectors import RUNNING, SyncProgress, sync_progress

# One progress for the admin, this command and the metrics (committed and in-flight rows, rate, ETA).
__all__ = ["RUNNING", "SyncProgress", "sync_progress"]


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
    from ops.models import CallbackFailure

    return list(CallbackFailure.objects.filter(sync_id=sync.pk).order_by("pk"))
