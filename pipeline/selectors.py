"""Reads of syncs that the admin, the operators' command and the metrics share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from pipeline.models import TERMINAL, Sync, SyncStatus

RUNNING = (SyncStatus.PENDING, SyncStatus.ACTIVE)
# Each running chunk's database session names its sync, lane and rows read so far (`bulk_progress`,
# migration syncs 0006): `bulk-sync:<sync>:<lane>:<rows>`.
PROGRESS_PREFIX = "bulk-sync:"


def duration_text(seconds: float | None) -> str:
    """12 s, 3 min 04 s, 2 h 05 min; "-" when unknown (the admin's and the operators' command's)."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def in_flight_rows(sync_ids) -> dict[int, int]:
    """Rows the running chunks of each sync have read and not committed yet, in one query."""
    ids = [int(i) for i in sync_ids]
    if not ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT split_part(application_name, ':', 2)::bigint, sum(split_part(application_name, ':', 4)::bigint)::bigint"
            " FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name ~ '^bulk-sync:[0-9]{1,18}:[0-9]{1,5}:[0-9]{1,18}$'"
            " AND split_part(application_name, ':', 2)::bigint = ANY(%s) GROUP BY 1",
            [ids],
        )
        return {int(sync): int(rows) for sync, rows in cur.fetchall()}


@dataclass(frozen=True)
class SyncProgress:
    """How far a sync has got: rows committed by its chunks, rows its running chunks have read (so
    the figure moves while a chunk runs), its rate and the time it still needs."""

    sync_id: int
    status: str
    total: int
    committed: int  # stored or rejected, committed (= created + updated + rejected)
    in_flight: int  # read by running chunks, not committed yet (a rolled-back chunk takes them back)
    created: int
    updated: int
    rejected: int
    elapsed_seconds: float | None  # since the sync started, until it ended
    rows_per_second: float | None  # over that time
    eta_seconds: float | None  # at that rate; running syncs only
    idle_seconds: float | None  # since a running sync last committed a chunk

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def processed(self) -> int:
        return min(self.total, self.committed + self.in_flight) if self.total else self.committed

    done = processed  # the operators' word for it

    @property
    def rate(self) -> float | None:
        return self.rows_per_second

    @property
    def percent(self) -> float:
        if self.total:
            return round(100.0 * self.processed / self.total, 1)
        return 100.0 if self.status in TERMINAL else 0.0

    def as_json(self) -> dict:
        return {
            "id": self.sync_id,
            "status": self.status,
            "total": self.total,
            "processed": self.processed,
            "committed": self.committed,
            "inFlight": self.in_flight,
            "rejected": self.rejected,
            "created": self.created,
            "updated": self.updated,
            "percent": self.percent,
            "rate": self.rows_per_second,
            "eta": self.eta_seconds,
            "elapsed": self.elapsed_seconds,
            "idle": self.idle_seconds,
            "running": self.running,
        }


def sync_progress(sync: Sync, *, now: datetime | None = None, in_flight: int | None = None) -> SyncProgress:
    """`sync`'s progress; `in_flight` when the caller has read it already (`in_flight_rows`)."""
    now = now or timezone.now()
    running = sync.status in RUNNING
    if in_flight is None:
        in_flight = in_flight_rows([sync.pk]).get(sync.pk, 0) if sync.status == SyncStatus.ACTIVE else 0
    done = min(sync.total_rows, sync.processed + in_flight) if sync.total_rows else sync.processed
    elapsed = rate = eta = idle = None
    if sync.sync_started_at is not None:
        elapsed = max(0.0, ((sync.sync_ended_at or now) - sync.sync_started_at).total_seconds())
        if elapsed > 0 and done:
            rate = done / elapsed
            if running and sync.total_rows > done:
                eta = (sync.total_rows - done) / rate
    if running and sync.heartbeat_at:
        idle = max((now - sync.heartbeat_at).total_seconds(), 0.0)
    return SyncProgress(
        sync_id=sync.pk,
        status=sync.status,
        total=sync.total_rows,
        committed=sync.processed,
        in_flight=in_flight,
        created=sync.created_count,
        updated=sync.updated_count,
        rejected=sync.rejected,
        elapsed_seconds=elapsed,
        rows_per_second=rate,
        eta_seconds=eta,
        idle_seconds=idle,
    )
