"""What operations need kept beyond a process's life: failed sync callbacks."""

from django.db import models


class CallbackFailure(models.Model):
    """One failed attempt to POST a sync's callbackUrl (recorded by the worker that made it).

    Metrics count these rows, so the count survives restarts. The sync is named by id only: rows
    outlive a deleted sync, so the count never goes back.
    """

    sync_id = models.BigIntegerField(db_index=True)
    attempt = models.PositiveSmallIntegerField(help_text="1 for the first try.")
    final = models.BooleanField(default=False, help_text="No retry follows: the callback was given up.")
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"sync {self.sync_id} callback attempt {self.attempt}{' (final)' if self.final else ''}"
