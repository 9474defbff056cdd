"""Thin Celery entry points: ids in, one service call, the retry policy."""

from __future__ import annotations

import logging
import uuid

import django.db
import requests
from celery import shared_task
from celery.contrib.django.task import DjangoTask

from pipeline.faults import TRANSIENT, ConnectionBroke, broken_connection, is_transient, overran

logger = logging.getLogger(__name__)


class SyncTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        sync_id = args[0] if args else kwargs.get("sync_id")
        if is_transient(exc):
            # The infrastructure's fault (broker or database away, worker lost): the sync pauses and
            # resumes when the service is back, by this task's retries or by beat (`syncs_requeue`).
            logger.warning("sync %s paused by %r; it resumes when the service is back", sync_id, exc)
            return
        from pipeline.services import sync_fail

        # The tenant reads the sync's logs: they get a reference, the traceback stays in our log.
        reference = uuid.uuid4().hex[:12]
        logger.error("sync %s failed (reference %s): %r", sync_id, reference, exc,
                     exc_info=einfo.exc_info if einfo else None)  # fmt: skip
        sync_fail(sync_id=sync_id, reason=internal_error_reason(reference))

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        if overran(exc):
            from pipeline.services import sync_chunk_overran

            sync_id = args[0] if args else kwargs["sync_id"]
            lane = args[1] if len(args) > 1 else kwargs.get("lane", 0)
            sync_chunk_overran(sync_id=sync_id, lane=lane)


def internal_error_reason(reference: str) -> str:
    return (
        f"The sync stopped on an internal error (reference {reference}); the rows it did not reach are"
        " returned as rejects."
    )


@shared_task(
    name="syncs.run",
    base=SyncTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=None,
)
def sync_run(self, sync_id: int, lane: int = 0, at_range: int | None = None) -> None:
    """One chunk of one lane per run, then enqueue the lane's next range: each run stays far below
    the broker's visibility timeout, and a sync's lanes are separate chains any worker can pick up.
    `at_range` makes a duplicate or stale message for the lane a no-op."""
    from pipeline.services import publish_run, sync_run_chunk

    try:
        result = sync_run_chunk(sync_id=sync_id, lane=lane, at_range=at_range)
    except django.db.InternalError as exc:
        if broken_connection(exc):
            raise ConnectionBroke(str(exc)) from exc  # a transient failure: retried (see ConnectionBroke)
        raise
    if result.has_more:
        publish_run(sync_id, [lane], result.next_range)


@shared_task(
    name="syncs.callback",
    bind=True,
    acks_late=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=6,
)
def sync_callback(self, sync_id: int) -> None:
    from pipeline.services import sync_callback_send

    sync_callback_send(sync_id=sync_id)


@shared_task(name="syncs.purge_expired", acks_late=True)
def purge_expired() -> dict:
    from pipeline.services.imports import imports_purge_expired

    return imports_purge_expired()


@shared_task(name="syncs.staging_upkeep", acks_late=True)
def staging_upkeep() -> dict:
    from pipeline.partitions import staged_partitions_upkeep

    return staged_partitions_upkeep()


@shared_task(name="syncs.resume_stalled", acks_late=True)
def resume_stalled() -> int:
    from pipeline.services import syncs_requeue

    return syncs_requeue()
