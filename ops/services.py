"""Writes of the operations app."""

from __future__ import annotations

from ops.models import CallbackFailure


def callback_failure_record(*, sync_id: int, attempt: int, final: bool, error: str) -> CallbackFailure:
    """Keep a failed callback attempt (its own autocommitted row: the task's work is already done)."""
    return CallbackFailure.objects.create(sync_id=sync_id, attempt=attempt, final=final, error=error[:2000])
