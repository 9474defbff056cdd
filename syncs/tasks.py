"""Thin Celery entry points: ids in, one service call, the retry policy."""

from __future__ import annotations

import logging

import requests
from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)


class SyncTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from .services import sync_fail

        logger.error("sync %s failed: %r", args[0] if args else kwargs.get("sync_id"), exc)
        sync_fail(sync_id=args[0] if args else kwargs["sync_id"], reason=f"{type(exc).__name__}: {exc}")


@shared_task(
    name="syncs.run",
    base=SyncTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def sync_run(self, sync_id: int, lane: int = 0) -> None:
    """One chunk of one lane per run, then re-enqueue: each run stays far below the broker's
    visibility timeout, and a sync's lanes are separate chains any worker can pick up."""
    from .services import sync_run_chunk

    if sync_run_chunk(sync_id=sync_id, lane=lane).has_more:
        sync_run.delay(sync_id, lane)


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
    from .services import sync_callback_send

    sync_callback_send(sync_id=sync_id)


@shared_task(name="syncs.purge_expired", acks_late=True)
def purge_expired() -> dict:
    from bulkapi.services import imports_purge_expired

    return imports_purge_expired()


@shared_task(name="syncs.resume_stalled", acks_late=True)
def resume_stalled() -> int:
    from .services import syncs_resume_stalled

    return syncs_resume_stalled()
