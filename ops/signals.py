"""Celery signal receivers, connected in every process that loads the Django apps (workers too).

A failed sync callback is recorded from Celery's own retry/failure signals rather than from the
callback task, so the sync core's task stays as it is.
"""

from __future__ import annotations

import logging

from celery.signals import task_failure, task_retry

logger = logging.getLogger(__name__)

CALLBACK_TASK = "syncs.callback"


def _sync_id(args) -> int | None:
    return args[0] if args and isinstance(args[0], int) else None


@task_retry.connect(dispatch_uid="ops.callback_retry")
def callback_retried(sender=None, request=None, reason=None, **kwargs) -> None:
    if getattr(sender, "name", None) != CALLBACK_TASK or request is None:
        return
    sync_id = _sync_id(request.args)
    if sync_id is not None:
        from ops.services import callback_failure_record

        error = getattr(reason, "exc", None) or reason
        callback_failure_record(sync_id=sync_id, attempt=request.retries + 1, final=False, error=repr(error))


@task_failure.connect(dispatch_uid="ops.callback_failure")
def callback_failed(sender=None, args=None, exception=None, **kwargs) -> None:
    if getattr(sender, "name", None) != CALLBACK_TASK:
        return
    sync_id = _sync_id(args)
    if sync_id is not None:
        from ops.services import callback_failure_record

        retries = getattr(sender.request, "retries", 0) or 0
        callback_failure_record(sync_id=sync_id, attempt=retries + 1, final=True, error=repr(exception))
        logger.warning("callback of sync %s given up after %s attempts: %r", sync_id, retries + 1, exception)
