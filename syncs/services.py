"""Sync lifecycle: create (snapshot the staged rows), run it in lanes of chunks, finish, fail, call back.

A sync's snapshot is cut into ranges of staged ids; each of its lanes works through every range
in order, taking the rows whose identifier falls in that lane's stretch of identifiers (lane 0
first runs the short range 0 alone, then starts the others). Lanes are independent chains of
Celery tasks, so several workers run one sync side by side, and no two lanes write the same record.

Crash safety: each chunk commits its records, rejects, the sync's counters and its lane's next
range in one transaction, under a row lock on the lane. A worker killed mid-chunk rolls the chunk
back whole; whoever runs that lane next (the redelivered task, or the beat task that resumes stalled
syncs) redoes the range, so every staged row ends up stored or rejected exactly once. The staged
rows are deleted when the sync ends.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from psycopg import sql

from bulkapi.catalog import mappings_for
from bulkapi.definitions import parse_definition_uri, render_definition, validate_definition, wire_time
from bulkapi.exceptions import Conflict, Failure, ValidationFailed
from bulkapi.logging import bind_log_context, log_context
from bulkapi.models import ImportDefinition, Site, StagedRow, StagedUpload, User

from .models import TERMINAL, Reject, Severity, Sync, SyncLane, SyncLog, SyncStatus
from .processors import finish_logs_for, lane_bounds_sample, lane_key_for, registration_for, staged_chunk

logger = logging.getLogger(__name__)


def render_sync(sync: Sync, *, progress: bool = False) -> dict:
    out: dict = {"syncedInstanceUri": sync.synced_instance_uri}
    if sync.sync_started_at:
        out["syncStartedAt"] = wire_time(sync.sync_started_at)
    if sync.sync_ended_at:
        out["syncEndedAt"] = wire_time(sync.sync_ended_at)
    out["status"] = sync.status
    out["createdAt"] = wire_time(sync.created_at)
    out["createdBy"] = sync.created_by
    if sync.callback_url:
        out["callbackUrl"] = sync.callback_url
    out["uri"] = sync.uri
    if progress:  # beyond Eloqua: how far a sync has got
        out["progress"] = {
            "total": sync.total_rows,
            "processed": sync.processed,
            "rejected": sync.rejected,
            "created": sync.created_count,
            "updated": sync.updated_count,
        }
    return out


def _is_public_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return False
    return True


def callback_url_check(url: str) -> str | None:
    """Why `url` may not be called back, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Must be an absolute http(s) URL."
    if not settings.CALLBACK_ALLOW_PRIVATE and not _is_public_host(parts.hostname):
        return "Must not point at a private, loopback or unresolvable address."
    return None


def _definition_for_uri(site: Site, uri: object) -> ImportDefinition:
    parsed = parse_definition_uri(uri) if isinstance(uri, str) else None
    definition = None
    if parsed:
        definition = ImportDefinition.objects.for_site(site).filter(entity=parsed[0], pk=parsed[1]).first()
    if definition is None:
        raise ValidationFailed(
            [Failure(field="syncedInstanceUri", value=uri, constraint="Must reference an existing import definition.")]
        )
    return definition


def sync_create(*, site: Site, user: User, body: object) -> Sync:
    """Validate the definition again (Eloqua 20D), snapshot its staged rows, enqueue the run."""
    if not isinstance(body, dict):
        raise ValidationFailed([Failure(field="body", constraint="Must be a JSON object.")])
    definition = _definition_for_uri(site, body.get("syncedInstanceUri"))
    callback = body.get("callbackUrl")
    if callback is not None:
        reason = callback_url_check(callback) if isinstance(callback, str) else "Must be a string."
        if reason:
            raise ValidationFailed([Failure(field="callbackUrl", value=callback, constraint=reason)])
    return sync_start(definition=definition, user=user, callback_url=callback)


def sync_start(*, definition: ImportDefinition, user: User, callback_url: str | None = None) -> Sync:
    """Validate the definition again (Eloqua 20D), snapshot its staged rows, enqueue the run."""
    validate_definition(site=definition.site, entity=definition.entity, body=render_definition(definition))
    try:
        with transaction.atomic(durable=True):
            return sync_snapshot(definition=definition, user=user, callback_url=callback_url)
    except IntegrityError:
        raise Conflict(
            [
                Failure(
                    field="syncedInstanceUri",
                    value=definition.uri,
                    constraint="A sync of this import is already pending or active.",
                )
            ]
        ) from None


def sync_snapshot(*, definition: ImportDefinition, user: User, callback_url: str | None = None) -> Sync:
    """The sync row for the definition's staged rows, inside the caller's transaction (another door
    can so commit its own rows and the sync together); its lanes are enqueued when that commits."""
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cur:
            # Waits for uploads in flight (they hold FOR SHARE), so the snapshot is exact.
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
            lane_key = lane_key_for(definition.entity, definition, mappings_for(definition))
            lanes = max(1, settings.BULK_SYNC_LANES) if lane_key is not None else 1
            range_rows = max(1, settings.BULK_SYNC_CHUNK_ROWS) * lanes
            # A laned sync's first range is short: lane 0 runs it alone (see `sync_run_chunk`).
            head = min(range_rows, max(1, settings.BULK_SYNC_FIRST_RANGE_ROWS)) if lanes > 1 else range_rows
            # The head-th staged id ends range 0, every range_rows-th one after it ends a range, and
            # the last staged id ends the last one. (One streaming pass: a `count(*) OVER ()` would
            # hold every id, and took twice as long.)
            cur.execute(
                """
                SELECT array_agg(id ORDER BY id) FILTER (WHERE n = %s OR (n > %s AND (n - %s) %% %s = 0)),
                       count(*), max(id), min(id)
                FROM (
                  SELECT id, row_number() OVER (ORDER BY id) AS n FROM bulkapi_stagedrow WHERE definition_id = %s
                ) q
                """,
                [head, head, head, range_rows, definition.pk],
            )
            ends, total, last, first = cur.fetchone()
            ends = ends or []
            if total and (not ends or ends[-1] != last):
                ends.append(last)
            bounds = None
            if lanes > 1 and total:
                bounds = lane_bounds_sample(
                    cur.cursor, definition_id=definition.pk, first=first, last=last, lane_key=lane_key, lanes=lanes
                )
        sync = Sync.objects.create(
            site=definition.site,
            definition=definition,
            synced_instance_uri=definition.uri,
            callback_url=callback_url,
            created_by=user.username,
            upto_id=ends[-1] if ends else 0,
            total_rows=total or 0,
            range_ends=ends or [],
            range_rows=range_rows,
            first_range_rows=head,
            lanes=lanes,
            lane_bounds=bounds,
            dense=bool(total) and last - first + 1 == total,
        )
        SyncLane.objects.bulk_create(SyncLane(sync=sync, lane=lane) for lane in range(lanes))
        StagedUpload.objects.filter(definition=definition, sync__isnull=True).update(sync=sync)
        _enqueue_run(sync.pk, [0])  # the other lanes once lane 0 is through range 0
    return sync


def _enqueue_run(sync_id: int, lanes) -> None:
    from .tasks import sync_run as sync_run_task

    for lane in lanes:
        sync_run_task.delay_on_commit(sync_id, lane)


def _log(sync: Sync, code: str, message: str, count: int = 0, severity: str = Severity.INFORMATION) -> SyncLog:
    return SyncLog(sync=sync, status_code=code, message=message, count=count, severity=severity)


@dataclass
class RunResult:
    has_more: bool


def sync_run_chunk(*, sync_id: int, lane: int = 0) -> RunResult:
    """Process the lane's next range of the sync, or finish the sync once every lane is through.
    Idempotent; safe to rerun, and lanes of one sync run side by side."""
    with log_context(sync_id=sync_id):
        _activate(sync_id)
        _refresh_stale_statistics(sync_id)
        with transaction.atomic(durable=True):
            state = SyncLane.objects.select_for_update().filter(sync_id=sync_id, lane=lane).first()
            sync = Sync.objects.select_related("site", "definition__site").filter(pk=sync_id).first()
            if state is None or sync is None or sync.status in TERMINAL:
                return RunResult(has_more=False)
            bind_log_context(site=sync.site.name)
            definition = sync.definition
            if definition is None:
                _finish(_locked(sync_id), SyncStatus.ERROR, error="The import definition has been deleted.")
                return RunResult(has_more=False)
            ranges = len(sync.range_ends)
            if lane > 0 and SyncLane.objects.filter(sync_id=sync_id, lane=0, next_range=0).exists():
                return RunResult(has_more=False)  # lane 0 starts this lane when through range 0
            if state.next_range < ranges:
                result = _process(state, sync, definition)
                with connection.cursor() as cur:
                    # Deferred foreign-key checks run now, so the sync row below stays locked only
                    # for the commit itself and other lanes hardly wait for it.
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cur.execute(
                        "UPDATE syncs_sync SET processed = processed + %s, rejected = rejected + %s,"
                        " created_count = created_count + %s, updated_count = updated_count + %s,"
                        " heartbeat_at = now() WHERE id = %s",
                        [result.processed, result.rejected, result.created, result.updated, sync_id],
                    )
                state.next_range += 1
                state.save(update_fields=["next_range"])
                _consume_passed_ranges(state, sync, definition)
                if lane == 0 and state.next_range == 1 and sync.lanes > 1:
                    _start_other_lanes(sync)
                logger.info(
                    "sync chunk done: lane %s range %s of %s, %s rows", lane, state.next_range, ranges, result.processed
                )
            if state.next_range < ranges:
                return RunResult(has_more=True)
            # This lane is through. The last lane to get here (under the sync's row lock, so two
            # lanes ending together see each other) finishes the sync.
            sync = _locked(sync_id)
            if (
                sync.status not in TERMINAL
                and not SyncLane.objects.filter(sync_id=sync_id, next_range__lt=ranges).exists()
            ):
                _finish(sync, SyncStatus.WARNING if sync.rejected else SyncStatus.SUCCESS)
        return RunResult(has_more=False)


def _start_other_lanes(sync: Sync) -> None:
    """Lane 0 is through range 0 (this transaction commits it): analyse the tables the sync fills,
    with the rows just written counted, and enqueue the other lanes once that commits.

    Lanes start one range apart for their plans' sake. A lane planning its chunk while another
    fills a table the statistics call empty (or know only other sites of) finds every plan for
    matching a staged row about as cheap, and the cheapest one (the site's stretch of an index,
    walked per row) reads each row the other lane inserts, once per staged row: a lane's first
    chunk ran for minutes that way. Range 0 is short, so the others hardly wait."""
    with connection.cursor() as cur:
        for table in registration_for(sync.definition.entity).writes:
            _analyse(cur, table)
    _enqueue_run(sync.pk, range(1, sync.lanes))


def _consume_passed_ranges(state: SyncLane, sync: Sync, definition: ImportDefinition) -> None:
    """Delete from staging the ranges every lane is past (until then other lanes need all their
    rows: record indexes count every lane's rows) that are this lane's turn (range mod lanes).

    Turns spread the deletes over the lanes, alongside the other lanes' work rather than all at the
    end. A lane deletes its turns whenever it finishes a chunk, so one that was ahead when a range
    was passed deletes it on its next chunk; what no lane got to (the last ranges, the turns of a
    lane that ended first) is left to `_finish`."""
    others = SyncLane.objects.filter(sync_id=sync.pk).exclude(lane=state.lane).values_list("next_range", flat=True)
    passed = min([state.next_range, *others])  # ranges below this are done by every lane
    if passed <= state.consumed_upto:
        return
    for r in range(state.consumed_upto, passed):
        if r % sync.lanes != state.lane:
            continue
        lo = sync.range_ends[r - 1] if r else 0
        StagedRow.objects.filter(definition_id=definition.pk, id__gt=lo, id__lte=sync.range_ends[r]).delete()
    state.consumed_upto = passed
    state.save(update_fields=["consumed_upto"])


def _locked(sync_id: int) -> Sync:
    return Sync.objects.select_for_update(no_key=True, of=("self",)).select_related("definition").get(pk=sync_id)


def _activate(sync_id: int) -> None:
    """pending -> active, once, in a short transaction of its own (lanes would queue behind it)."""
    with transaction.atomic(durable=True):
        started = Sync.objects.filter(pk=sync_id, status=SyncStatus.PENDING).update(
            status=SyncStatus.ACTIVE, sync_started_at=timezone.now(), heartbeat_at=timezone.now()
        )
        if started:
            SyncLog.objects.create(
                sync_id=sync_id,
                status_code="ELQ-00137",
                message="Ready for data import processing.",
                severity=Severity.INFORMATION,
            )


# Tables syncs write and match against. A table that a sync (or a first import) has just filled still
# looks empty to the planner until autovacuum analyses it, and the planner then seq-scans it once per
# staged row: a 20,000-row batch chunk took 167 s that way, 5 s with fresh statistics.
SYNC_TARGET_TABLES = (
    "bulkapi_stagedrow",
    "opportunities_opportunity",
    "contacts_contact",
    "contacts_account",
    "linkage_opportunitycontact",
)


# The columns sync plans find rows by; the row count comes with any analysis. Statistics of the
# other columns (names, jsonb, dates: sorting 30,000 sampled values each) serve no sync plan and
# were most of the cost: a full ANALYZE of 120,000 opportunities took 1.1 s, these three columns
# 0.2 s (an update sync of 100,000 rows ran two, 3.7 s of its 17 s). Autovacuum's own analyses
# still cover every column and the expression indexes (lower(external_id), lower(email)).
ANALYZED_COLUMNS = {
    "bulkapi_stagedrow": ("definition_id", "id"),
    "opportunities_opportunity": ("id", "site_id", "external_id"),
    "contacts_contact": ("id", "site_id", "email", "phone", "visitor_id", "external_id", "account_id"),
    "contacts_account": ("id", "site_id", "name", "domain", "external_id"),
    "linkage_opportunitycontact": ("opportunity_id", "contact_id", "site_id"),
}

# Advisory lock key serialising the statistics refresh of concurrent chunks ("syncstat").
STATISTICS_LOCK = 0x73796E6373746174


def _refresh_stale_statistics(sync_id: int) -> None:
    """ANALYZE the target tables whose statistics a lane's next chunk should not be planned on:

    - changed by more than four times the rows their last analysis counted (`reltuples`): a table
      filling up from empty is so analysed once it has rows, then at about 5x and 25x that; in
      between, the planner scales its row count by the table's physical growth;
    - changed by more than 1,000 rows and not analysed since this sync started (checked before
      every chunk: with lanes by key range, a lane may start its first busy range after another
      lane filled the table). This catches a site new to a table: statistics that know every other
      site estimate about one row for it, and then a lookup of one external id may use any index
      that starts with the site (the unique (site, external_id) one, for a case-insensitive
      lookup) and read all the site's rows per staged row. A batch sync of a new site stalled
      for minutes on its second chunk that way.

    In its own short transaction, one lane at a time (an advisory lock): a lane that finds another
    analysing waits for it, then sees fresh statistics, so no lane plans its chunk on stale ones."""
    with transaction.atomic(durable=True), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [STATISTICS_LOCK])
        cur.execute("SELECT sync_started_at FROM syncs_sync WHERE id = %s", [sync_id])
        row = cur.fetchone()
        cur.execute(
            "SELECT t.relname FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid"
            " WHERE t.relname = ANY(%s) AND t.n_mod_since_analyze > 1000 AND ("
            "  t.n_mod_since_analyze > 4 * c.reltuples"
            "  OR coalesce(greatest(t.last_analyze, t.last_autoanalyze), '-infinity') < %s)",
            [list(SYNC_TARGET_TABLES), row[0] if row and row[0] else "-infinity"],
        )
        for (table,) in cur.fetchall():
            _analyse(cur, table)


def _analyse(cur, table: str) -> None:
    """ANALYZE `table`, on the columns plans need (ANALYZED_COLUMNS) where not all of them."""
    columns = ANALYZED_COLUMNS.get(table)
    cur.execute(
        sql.SQL("ANALYZE {}{}").format(
            sql.Identifier(table),
            sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, columns))) if columns else sql.SQL(""),
        )
    )


def _process(state: SyncLane, sync: Sync, definition: ImportDefinition):
    """Run the entity's processor on the lane's current range."""
    mappings = mappings_for(definition)
    r = state.next_range
    source = staged_chunk(
        definition_id=definition.pk,
        lo=sync.range_ends[r - 1] if r else 0,
        hi=sync.range_ends[r],
        base=_rows_before(sync, r),
        offset=sync.upto_id - sync.total_rows if sync.dense else None,
        lane=state.lane,
        lanes=sync.lanes,
        lane_key=lane_key_for(definition.entity, definition, mappings) if sync.lanes > 1 else None,
        bounds=sync.lane_bounds,
    )
    with connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")
        # JIT-compiling the chunk's expression-heavy statements costs far more than it saves
        # (measured on 5,000 rows: sync 1.9 s with JIT, 0.6 s without; one update chunk 26 s).
        cur.execute("SET LOCAL jit = off")
        return registration_for(definition.entity).processor(
            cur.cursor,
            sync_id=sync.pk,
            site_id=sync.site_id,
            definition=definition,
            mappings=mappings,
            source=source,
        )


def _rows_before(sync: Sync, r: int) -> int:
    """Staged rows of the snapshot's ranges before range `r` (all full but the last)."""
    if r == 0:
        return 0
    head = sync.first_range_rows if sync.first_range_rows is not None else sync.range_rows
    return head + (r - 1) * sync.range_rows


def _finish(sync: Sync, status: str, error: str = "") -> None:
    """Write the summary logs and the terminal status; the callback goes out after commit."""
    logs = []
    if status != SyncStatus.ERROR or sync.total_rows:
        logs += _upload_logs(sync)
        logs.append(_log(sync, "ELQ-00130", "Total records staged for import.", sync.total_rows))
    if sync.total_rows == 0 and status != SyncStatus.ERROR:
        logs.append(_log(sync, "ELQ-00124", "There was no data available to process."))
    logs.append(_log(sync, "ELQ-00001", "Total records processed.", sync.processed))
    logs.append(_log(sync, "ELQ-00049", "Total new records.", sync.created_count))
    logs.append(_log(sync, "SRV-00001", "Total updated records.", sync.updated_count))
    entity_logs = finish_logs_for(sync.definition.entity) if sync.definition is not None else None
    if entity_logs is not None:
        logs += entity_logs(sync)
    reasons = (
        Reject.objects.filter(sync=sync)
        .values("status_code", "message")
        .annotate(n=Count("id"))
        .order_by("status_code")
    )
    for reason in reasons:
        logs.append(_log(sync, reason["status_code"], reason["message"], reason["n"], Severity.WARNING))
    logs.append(
        _log(
            sync,
            "ELQ-00060",
            "Total rejected records.",
            sync.rejected,
            Severity.WARNING if sync.rejected else Severity.INFORMATION,
        )
    )
    if error:
        sync.error_message = error
        logs.append(_log(sync, "ELQ-00146" if "temporary" in error else "ELQ-00105", error, 0, Severity.ERROR))
    logs.append(_log(sync, "ELQ-00131", "Deleted internal staging for data transfer."))
    logs.append(
        _log(
            sync,
            "ELQ-00101",
            f"Sync processed for sync {sync.pk}, resulting in {status} status.",
            0,
            Severity.ERROR if status == SyncStatus.ERROR else Severity.INFORMATION,
        )
    )
    SyncLog.objects.bulk_create(logs)
    if sync.definition_id is not None:
        # The rest of the snapshot's staged rows (lanes delete the ranges they are all past) are
        # consumed too, whatever the outcome (ELQ-00131 above).
        StagedRow.objects.filter(definition_id=sync.definition_id, id__lte=sync.upto_id).delete()
    now = timezone.now()
    sync.status = status
    sync.sync_started_at = sync.sync_started_at or now
    sync.sync_ended_at = now
    sync.heartbeat_at = now
    sync.save()
    if sync.callback_url:
        from .tasks import sync_callback

        sync_callback.delay_on_commit(sync.pk)


def _upload_logs(sync: Sync) -> list[SyncLog]:
    if sync.definition is None:
        return []
    keys = list(sync.definition.field_map)
    logs = []
    for upload in StagedUpload.objects.filter(sync=sync).order_by("id"):
        name = f"upload {upload.pk}"
        for column in upload.columns:
            if column not in keys:
                logs.append(
                    _log(
                        sync,
                        "ELQ-00111",
                        f"Field {column} is not part of import definition, and will be ignored.",
                        0,
                        Severity.WARNING,
                    )
                )
        if upload.content_type == "text/csv" or upload.row_count:
            for key in keys:
                if key not in upload.columns:
                    logs.append(
                        _log(
                            sync,
                            "ELQ-00121",
                            f"Field {key} is part of import definition, but not included in file {name}.",
                            0,
                            Severity.WARNING,
                        )
                    )
    return logs


def sync_fail(*, sync_id: int, reason: str) -> None:
    """Mark a sync `error` after its task gave up; what earlier chunks committed stays."""
    with transaction.atomic(durable=True):
        sync = Sync.objects.select_for_update(no_key=True).filter(pk=sync_id).first()
        if sync is None or sync.status in TERMINAL:
            return
        _finish(sync, SyncStatus.ERROR, error=reason[:2000])


def sync_callback_send(*, sync_id: int) -> None:
    """POST the final sync to its callbackUrl. Raises on failure so the task retries."""
    import requests

    sync = Sync.objects.filter(pk=sync_id).first()
    if sync is None or not sync.callback_url or sync.status not in TERMINAL:
        return
    reason = callback_url_check(sync.callback_url)
    if reason:  # re-checked at send time: DNS may have changed since the sync was made
        logger.warning("callback for sync %s refused: %s", sync_id, reason)
        return
    response = requests.post(
        sync.callback_url,
        json=render_sync(sync),
        timeout=settings.CALLBACK_TIMEOUT_SECONDS,
        allow_redirects=False,
    )
    response.raise_for_status()


def syncs_resume_stalled() -> int:
    """Re-enqueue the unfinished lanes of syncs nobody has advanced for a while (worker or message lost)."""
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_SYNC_STALL_SECONDS)
    stalled = Sync.objects.filter(
        Q(status=SyncStatus.ACTIVE, heartbeat_at__lt=cutoff) | Q(status=SyncStatus.PENDING, created_at__lt=cutoff)
    ).values_list("pk", "range_ends")
    from .tasks import sync_run as sync_run_task

    count = 0
    for pk, ends in stalled:
        lanes = SyncLane.objects.filter(sync_id=pk, next_range__lt=len(ends)).values_list("lane", flat=True)
        # A sync whose lanes are all through but which did not finish gets its lane 0 run once more.
        for lane in list(lanes) or [0]:
            sync_run_task.delay(pk, lane)
        count += 1
    return count
