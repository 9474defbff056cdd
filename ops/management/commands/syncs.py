"""`manage.py syncs list|show|cancel|retry|requeue|purge`: syncs as an operator sees them.

Next to a running `make run`, `make manage ARGS="syncs list"` (manage.py reads its .run/env).
Everything goes through the same services as the API: cancel and retry are what
`POST /api/bulk/2.0/syncs/{id}/cancel|retry` do; requeue is beat's stall sweep, for one sync now.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from kernel.exceptions import BulkError
from kernel.models import User
from ops.selectors import sync_callback_failures, sync_progress, sync_reject_counts, syncs_list
from pipeline.models import Sync, SyncStatus
from pipeline.selectors import duration_text


def _time(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _rate(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "-"


def _lanes(sync: Sync) -> str:
    """Each lane's next range out of the sync's ranges: `0:3/5 1:2/5`."""
    ranges = len(sync.range_ends)
    return (
        " ".join(
            f"{s.lane}:{min(s.next_range, ranges)}/{ranges}"
            for s in sorted(sync.lane_states.all(), key=lambda s: s.lane)
        )
        or "-"
    )


def _progress_json(sync: Sync) -> dict:
    p = sync_progress(sync)
    return {
        "id": sync.pk,
        "site": sync.site.name,
        "status": sync.status,
        "definition": sync.synced_instance_uri,
        "processed": p.done,
        "total": p.total,
        "percent": p.percent,
        "created": sync.created_count,
        "updated": sync.updated_count,
        "rejected": sync.rejected,
        "rowsPerSecond": p.rows_per_second,
        "etaSeconds": p.eta_seconds,
        "idleSeconds": p.idle_seconds,
        "lanes": [
            {
                "lane": s.lane,
                "nextRange": s.next_range,
                "ranges": len(sync.range_ends),
                "lastChunkAt": _iso(s.heartbeat_at),
            }
            for s in sorted(sync.lane_states.all(), key=lambda s: s.lane)
        ],
        "createdAt": _iso(sync.created_at),
        "createdBy": sync.created_by,
        "startedAt": _iso(sync.sync_started_at),
        "endedAt": _iso(sync.sync_ended_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Command(BaseCommand):
    help = "List, inspect, cancel, retry and requeue syncs; purge expired staging now."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="Recent syncs with their progress (newest first).")
        listing.add_argument("--running", action="store_true", help="Only pending and active syncs.")
        listing.add_argument("--status", choices=SyncStatus.values)
        listing.add_argument("--site", help="Only this site's syncs (its name).")
        listing.add_argument("--limit", type=int, default=20)
        listing.add_argument("--json", dest="as_json", action="store_true", help="One JSON array, for scripts.")
        show = actions.add_parser("show", help="One sync: progress, lanes, reject counts, logs, callback.")
        show.add_argument("sync_id", type=int)
        show.add_argument("--json", dest="as_json", action="store_true", help="One JSON object, for scripts.")
        cancel = actions.add_parser("cancel", help="Stop a pending or active sync (what it committed stays).")
        cancel.add_argument("sync_id", type=int)
        cancel.add_argument("--by", help="Who cancels, for the sync's log (default: your login, via manage.py).")
        retry = actions.add_parser("retry", help="A new sync over the rows an errored sync did not process.")
        retry.add_argument("sync_id", type=int)
        retry.add_argument(
            "--user", help="Who the new sync is made by (a user of its site; default: the sync's creator)."
        )
        requeue = actions.add_parser(
            "requeue", help="Enqueue the unfinished lanes of a sync (or of every stalled one) again."
        )
        requeue.add_argument("sync_id", type=int, nargs="?")
        actions.add_parser("purge", help="Delete staged rows and definitions past their retention now.")

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"handle_{action}")(**options)
        except BulkError as exc:
            reasons = "; ".join(f.constraint for f in exc.failures)
            raise CommandError(f"{exc.message}{' ' + reasons if reasons else ''}") from exc

    def _sync(self, sync_id: int) -> Sync:
        sync = (
            Sync.objects.select_related("site", "definition").prefetch_related("lane_states").filter(pk=sync_id).first()
        )
        if sync is None:
            raise CommandError(f"There is no sync {sync_id}.")
        return sync

    # ------------------------------------------------------------------ reads

    def handle_list(
        self, *, running: bool, status: str | None, site: str | None, limit: int, as_json: bool, **_
    ) -> None:
        syncs = syncs_list(status=status, running=running, site=site, limit=limit)
        if as_json:
            self.stdout.write(_dumps([_progress_json(s) for s in syncs]))
            return
        if not syncs:
            self.stdout.write("No syncs.")
            return
        header = ("ID", "SITE", "STATUS", "DONE/TOTAL", "%", "ROWS/S", "ETA", "LANES", "STARTED", "IDLE")
        rows = [header]
        for sync in syncs:
            p = sync_progress(sync)
            rows.append(
                (
                    str(sync.pk),
                    sync.site.name,
                    sync.status,
                    f"{p.done:,}/{p.total:,}",
                    f"{p.percent:.1f}" if p.percent is not None else "-",
                    _rate(p.rows_per_second),
                    duration_text(p.eta_seconds),
                    _lanes(sync),
                    _time(sync.sync_started_at),
                    duration_text(p.idle_seconds),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def handle_show(self, *, sync_id: int, as_json: bool, **_) -> None:
        sync = self._sync(sync_id)
        rejects = sync_reject_counts(sync)
        logs = list(sync.logs.order_by("pk"))
        failures = sync_callback_failures(sync)
        if as_json:
            out = _progress_json(sync) | {
                "rejects": rejects,
                "logs": [
                    {
                        "severity": log.severity,
                        "statusCode": log.status_code,
                        "message": log.message,
                        "count": log.count,
                        "createdAt": _iso(log.created_at),
                    }
                    for log in logs
                ],  # fmt: skip
                "callbackUrl": sync.callback_url,
                "callbackFailures": [
                    {"attempt": f.attempt, "final": f.final, "error": f.error, "at": _iso(f.created_at)}
                    for f in failures
                ],
                "error": sync.error_message,
                "cancelledBy": sync.cancelled_by,
            }
            self.stdout.write(_dumps(out))
            return
        p = sync_progress(sync)
        write = self.stdout.write
        write(f"sync {sync.pk} of site {sync.site.name}: {sync.status}")
        name = f' "{sync.definition.name}"' if sync.definition else " (deleted)"
        write(f"  definition  {sync.synced_instance_uri}{name}")
        write(f"  created     {_time(sync.created_at)} by {sync.created_by}")
        write(f"  started     {_time(sync.sync_started_at)}    ended {_time(sync.sync_ended_at)}")
        percent = f" ({p.percent:.1f} %)" if p.percent is not None else ""
        write(
            f"  progress    {p.done:,} of {p.total:,} rows{percent}, {_rate(p.rows_per_second)} rows/s"
            f" over {duration_text(p.elapsed_seconds)}, ETA {duration_text(p.eta_seconds)}"
        )
        write(
            f"  rows        created {sync.created_count:,}, updated {sync.updated_count:,}, rejected {sync.rejected:,}"
        )
        if p.idle_seconds is not None:
            write(f"  last chunk  {duration_text(p.idle_seconds)} ago")
        ranges = len(sync.range_ends)
        write(f"  lanes       {sync.lanes}, {ranges} ranges of {sync.range_rows:,} rows")
        for state in sorted(sync.lane_states.all(), key=lambda s: s.lane):
            where = "through" if state.next_range >= ranges else f"next range {state.next_range} of {ranges}"
            write(f"    lane {state.lane}: {where}, last chunk {_time(state.heartbeat_at)}")
        if sync.cancelled_by:
            write(f"  cancelled   by {sync.cancelled_by}")
        if sync.retry_of_id:
            write(f"  retry of    sync {sync.retry_of_id}")
        retried_by = Sync.objects.filter(retry_of=sync).values_list("pk", flat=True).first()
        if retried_by:
            write(f"  retried by  sync {retried_by}")
        if sync.error_message:
            write(f"  error       {sync.error_message}")
        if sync.callback_url:
            given_up = any(f.final for f in failures)
            state = "given up" if given_up else ("failing" if failures else "no failure")
            write(f"  callback    {sync.callback_url}: {len(failures)} failed attempts, {state}")
            if failures:
                write(f"              last: {failures[-1].error}")
        write("rejected rows by reason:" if rejects else "rejected rows: none")
        for reason in rejects:
            write(f"  {reason['rows']:>10,}  {reason['status_code']}  {reason['message']}")
        write("logs:" if logs else "logs: none")
        for log in logs:
            count = f" ({log.count:,})" if log.count else ""
            write(f"  {_time(log.created_at)}  {log.severity:<11}  {log.status_code}  {log.message}{count}")

    # ----------------------------------------------------------------- writes

    def handle_cancel(self, *, sync_id: int, by: str | None, **_) -> None:
        from pipeline.services import sync_cancel

        self._sync(sync_id)
        by = by or f"{getpass.getuser()} (manage.py)"
        sync = sync_cancel(sync_id=sync_id, by=by)
        self.stdout.write(
            f"sync {sync.pk} cancelled by {by}: {sync.status}, {sync.processed:,} of {sync.total_rows:,} rows processed"
            f" ({sync.rejected:,} rejected, those not reached among them)"
        )

    def handle_retry(self, *, sync_id: int, user: str | None, **_) -> None:
        from pipeline.services import sync_retry

        sync = self._sync(sync_id)
        username = user or sync.created_by
        account = User.objects.filter(site=sync.site, username__iexact=username).first()
        if account is None:
            raise CommandError(f"Site {sync.site.name} has no user {username!r}: name one with --user.")
        retry = sync_retry(sync_id=sync_id, user=account)
        self.stdout.write(f"sync {sync_id} retried as sync {retry.pk}: {retry.total_rows:,} rows, {retry.status}")

    def handle_requeue(self, *, sync_id: int | None, **_) -> None:
        from pipeline.services import syncs_requeue

        if sync_id is not None:
            sync = self._sync(sync_id)
            if sync.status not in (SyncStatus.PENDING, SyncStatus.ACTIVE):
                raise CommandError(f"sync {sync_id} has ended ({sync.status}): nothing to requeue.")
        count = syncs_requeue(sync_id=sync_id)
        what = f"sync {sync_id}" if sync_id is not None else "stalled syncs"
        self.stdout.write(f"{what}: {count} sync(s) re-enqueued (a lane already running ignores its extra message)")

    def handle_purge(self, **_) -> None:
        from pipeline.services.imports import imports_purge_expired

        purged = imports_purge_expired()
        self.stdout.write(
            f"purged {purged['staged_rows']:,} expired staged rows and {purged['definitions']:,} expired definitions"
            f" (dropped {purged['staged_partitions']:,} staging partitions)"
        )


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
