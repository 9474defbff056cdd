"""Getting syncs going again: resume lanes whose messages were lost, retry an errored sync's
unprocessed rows, and the callback that tells a client a sync has ended."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kernel.exceptions import Conflict, Failure, NotFound
from kernel.models import User
from pipeline.callbacks import CallbackRefused, callback_body, callback_post
from pipeline.definitions import definition_body, validate_definition
from pipeline.models import TERMINAL, Reject, StagedUpload, Sync, SyncLane, SyncStatus
from pipeline.services.create import callback_url_check, publish_run, running_conflict, sync_snapshot
from pipeline.services.finish import RETRYABLE_CODES

logger = logging.getLogger(__name__)


def syncs_requeue(*, sync_id: int | None = None) -> int:
    """Enqueue again the unfinished lanes of sync `sync_id`, or of every sync with a lane nobody has
    advanced for `BULK_SYNC_STALL_SECONDS` (its message lost with a broker restart, its worker
    killed); returns how many syncs. Each message names the lane's current range, so one for a lane
    that is in fact running, or queued, does nothing: requeueing is always safe."""
    syncs = Sync.objects.filter(status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE])
    if sync_id is not None:
        syncs = syncs.filter(pk=sync_id)
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_SYNC_STALL_SECONDS)
    count = 0
    for sync in syncs.only("pk", "range_ends", "status", "created_at", "heartbeat_at"):
        ranges = len(sync.range_ends)
        lanes = list(
            SyncLane.objects.filter(sync=sync).order_by("lane").values_list("lane", "next_range", "heartbeat_at")
        )
        lane0_started = any(lane == 0 and pos > 0 for lane, pos, _ in lanes)
        due = []
        for lane, position, beat in lanes:
            if position >= ranges or (lane > 0 and not lane0_started):
                continue  # through, or started by lane 0 once it is past range 0
            if sync_id is not None or (beat or sync.heartbeat_at or sync.created_at) < cutoff:
                due.append((lane, position))
        through = bool(lanes) and all(position >= ranges for _, position, _ in lanes)
        if not due and through and (sync_id is not None or (sync.heartbeat_at or sync.created_at) < cutoff):
            due.append((0, ranges))  # every lane is through but nobody finished it: lane 0 finishes it
        for lane, position in due:
            publish_run(sync.pk, [lane], position)
        if due:
            logger.info("sync %s: re-enqueued lanes %s", sync.pk, [lane for lane, _ in due])
            count += 1
    return count


def sync_retry(*, sync_id: int, user: User) -> Sync:
    """A new sync of the same definition over the rows an errored (or cancelled) sync did not
    process: they are staged again from its `SRV-00100`/`SRV-00101` rejects, in record order, with
    whatever else is staged for the definition by then. One retry per sync; Conflict when there is
    nothing to retry, it was retried already, or its definition is gone or internal (a batch job is
    retried by uploading its error file)."""
    sync = Sync.objects.select_related("definition__site", "retried_by").filter(pk=sync_id).first()
    if sync is None:
        raise NotFound()

    def refuse(constraint: str, value=None) -> Conflict:
        return Conflict([Failure(field="sync", value=value or sync.uri, constraint=constraint)])

    if sync.status != SyncStatus.ERROR:
        raise refuse("Only a sync that ended in error can be retried.", sync.status)
    definition = sync.definition
    if definition is None or definition.is_internal:
        raise refuse("Its import definition no longer exists (or is not a Bulk API definition).")
    validate_definition(site=definition.site, entity=definition.entity, body=definition_body(definition))
    try:
        with transaction.atomic(durable=True):
            # One retry per sync: the retried sync's row lock orders two retries racing.
            Sync.objects.select_for_update(no_key=True, of=("self",)).filter(pk=sync.pk).first()
            earlier = Sync.objects.filter(retry_of_id=sync.pk).first()
            if earlier is not None:
                raise refuse(f"Already retried by {earlier.uri}.")
            upload = StagedUpload.objects.create(
                definition=definition, content_type="retry", columns=list(definition.field_map)
            )
            with connection.cursor() as cur:
                # Waits for uploads in flight, as a snapshot does.
                cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
                cur.execute(
                    "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)"
                    " SELECT %s, %s, r.field_values FROM syncs_reject r"
                    " WHERE r.sync_id = %s AND r.status_code = ANY(%s) ORDER BY r.record_index, r.id",
                    [definition.pk, upload.pk, sync.pk, list(RETRYABLE_CODES)],
                )
                rows = cur.rowcount
            if not rows:
                raise refuse("The sync has no unprocessed rows to retry.")
            StagedUpload.objects.filter(pk=upload.pk).update(row_count=rows)
            retry = sync_snapshot(definition=definition, user=user, callback_url=sync.callback_url)
            retry.retry_of = sync
            retry.save(update_fields=["retry_of"])
    except IntegrityError:
        raise running_conflict(definition) from None
    logger.info("sync %s retried as sync %s (%s rows)", sync.pk, retry.pk, rows)
    return retry


def retryable_count(sync: Sync) -> int:
    """Rows of an ended sync that a retry would stage again."""
    return Reject.objects.filter(sync=sync, status_code__in=RETRYABLE_CODES).count()


def sync_callback_send(*, sync_id: int) -> None:
    """POST the final sync to its callbackUrl. Raises on failure so the task retries.

    The host is resolved and checked again at send time (DNS may have changed since the sync was
    made), and the POST goes to the address that was checked (`pipeline.callbacks`)."""
    sync = Sync.objects.filter(pk=sync_id).first()
    if sync is None or not sync.callback_url or sync.status not in TERMINAL:
        return
    reason = callback_url_check(sync.callback_url, look_up=False)
    if reason is None:
        try:
            response = callback_post(sync.callback_url, callback_body(sync))
        except CallbackRefused as exc:
            reason = str(exc)
    if reason:
        logger.warning("callback for sync %s refused: %s", sync_id, reason)
        return
    response.raise_for_status()
