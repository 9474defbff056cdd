"""History retention: ended syncs, with their rejects, logs and lanes, are deleted
BULK_HISTORY_SECONDS after they ended (0: kept for ever), so that these tables hold a bounded
window of syncs however many rows are imported (docs/scaling.md "Growth of the data").

Rejects and logs go first, PURGE_BATCH rows per statement by their sync's index, each statement a
transaction of its own: a sync with millions of rejects never makes one long transaction. Then, in
one short transaction, the syncs themselves: other doors delete what they keep for them
(`register_history_hook`), references with a constraint are cleared (SET_NULL) or deleted
(CASCADE), references without one (linkage's `sync_id`) keep the id of a sync that is gone.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from psycopg import sql

from pipeline.models import TERMINAL, Reject, Sync, SyncLog
from pipeline.processors import history_hooks

# Rows deleted per statement, and syncs per round.
PURGE_BATCH = 5000
SYNCS_PER_ROUND = 100


def syncs_purge_history() -> dict[str, int]:
    """Delete the syncs that ended more than BULK_HISTORY_SECONDS ago; returns how many syncs,
    rejects and logs went."""
    counts = {"syncs": 0, "rejects": 0, "logs": 0}
    if settings.BULK_HISTORY_SECONDS <= 0:
        return counts
    cutoff = timezone.now() - timedelta(seconds=settings.BULK_HISTORY_SECONDS)
    while True:
        # An ended sync's heartbeat is when it ended: the (status, heartbeat_at) index finds them.
        ids = list(
            Sync.objects.filter(status__in=TERMINAL, heartbeat_at__lt=cutoff, sync_ended_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:SYNCS_PER_ROUND]
        )
        if not ids:
            return counts
        counts["rejects"] += _delete_batched(Reject, ids)
        counts["logs"] += _delete_batched(SyncLog, ids)
        with transaction.atomic(durable=True):
            # Ended syncs only change when retried (`retry_of`): lock them, as a retry does.
            ids = list(
                Sync.objects.select_for_update(no_key=True)
                .filter(pk__in=ids, status__in=TERMINAL)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            for hook in history_hooks():
                hook(ids)
            with connection.cursor() as cur:
                for rel in Sync._meta.related_objects:
                    _clear(cur, rel, ids)
                cur.execute("DELETE FROM syncs_sync WHERE id = ANY(%s)", [ids])
        counts["syncs"] += len(ids)


def _delete_batched(model: type[models.Model], sync_ids: list[int]) -> int:
    table = sql.Identifier(model._meta.db_table)
    deleted = 0
    while True:
        with transaction.atomic(durable=True), connection.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE sync_id = ANY(%s) LIMIT %s)").format(
                    t=table
                ),
                [sync_ids, PURGE_BATCH],
            )
            n = cur.rowcount
        deleted += n
        if n < PURGE_BATCH:
            return deleted


def _clear(cur, rel, ids: list[int]) -> None:
    """What the database needs done to a reference to the syncs `ids` before they go."""
    field = rel.field
    if not field.db_constraint:
        return
    names = {"t": sql.Identifier(field.model._meta.db_table), "c": sql.Identifier(field.column)}
    if rel.on_delete is models.SET_NULL:
        cur.execute(sql.SQL("UPDATE {t} SET {c} = NULL WHERE {c} = ANY(%s)").format(**names), [ids])
    elif rel.on_delete is models.CASCADE:
        cur.execute(sql.SQL("DELETE FROM {t} WHERE {c} = ANY(%s)").format(**names), [ids])
    else:
        raise NotImplementedError(f"{field.model.__name__}.{field.name}: on_delete {rel.on_delete.__name__}")
