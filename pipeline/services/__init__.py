"""Sync lifecycle: create (snapshot the staged rows), run it in lanes of chunks, finish, fail, cancel,
retry, resume, call back. One package, re-exporting its parts (see each module's docstring)."""

from pipeline.services.create import (
    callback_url_check,
    enqueue_run,
    publish_run,
    running_conflict,
    sync_create,
    sync_snapshot,
    sync_start,
)
from pipeline.services.finish import (
    CANCELLED,
    NOT_PROCESSED,
    RETRYABLE_CODES,
    finish,
    rows_before,
    sync_cancel,
    sync_fail,
)
from pipeline.services.recover import retryable_count, sync_callback_send, sync_retry, syncs_requeue
from pipeline.services.run import RunResult, sync_chunk_overran, sync_run_chunk

__all__ = [
    "CANCELLED",
    "NOT_PROCESSED",
    "RETRYABLE_CODES",
    "RunResult",
    "callback_url_check",
    "enqueue_run",
    "finish",
    "publish_run",
    "retryable_count",
    "running_conflict",
    "rows_before",
    "sync_callback_send",
    "sync_cancel",
    "sync_create",
    "sync_fail",
    "sync_chunk_overran",
    "sync_retry",
    "sync_run_chunk",
    "sync_snapshot",
    "sync_start",
    "syncs_requeue",
]
