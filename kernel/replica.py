"""Reads off the primary: a streaming replica (`REPLICA_DATABASE_URL`, the `replica` alias) for the
views that opt in with `replica_reads(user)`: status polls, lists, the admin dashboard, /metrics.

The rule (read-your-writes, as GitLab's database load balancer keeps it): every write request of a
user records the primary's WAL position after it (`replica_pin_write`, called by
`ReplicaPinMiddleware`, kept in the shared cache for `REPLICA_PIN_SECONDS`); a read of that user
goes to the replica only if the replica has replayed at least that far, else to the primary. So a
client always sees what it wrote, whichever API host it reaches; what others wrote it sees once
the replica has replayed it (the replica's lag, milliseconds when healthy). Everything else reads
and writes the primary: writes, the services' reads, the workers, and the raw SQL of
`pg_stat_activity` (a running chunk's in-flight rows exist on the primary only).

When in doubt it reads the primary: no replica configured, the cache does not answer, the
replica does not answer or is not in recovery. A read routed to the replica reads only the
replica, so one response never mixes two snapshots.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
_read_alias: ContextVar[str | None] = ContextVar("bulk_read_alias", default=None)

# Keeps the larger of the stored and the given position (two writes of one user may record theirs
# out of order), with the key's expiry renewed.
_PIN_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or (tonumber(cur) < tonumber(ARGV[1])) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def _pin_key(user_id: int) -> str:
    return cache.make_key(f"replica-pin:user:{user_id}")


def _redis():
    return cache._cache.get_client(write=True)


def replica_pin_write(*, user_id: int) -> None:
    """Record that `user_id` wrote: their reads stay on the primary until the replica has replayed
    the primary's WAL up to here. Called after the write committed."""
    if not replica_configured():
        return
    with connections["default"].cursor() as cur:
        cur.execute("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
        lsn = cur.fetchone()[0]
    try:
        _redis().eval(_PIN_SCRIPT, 1, _pin_key(user_id), lsn, settings.REPLICA_PIN_SECONDS)
    except Exception:  # noqa: BLE001 - the cache is down: logged; its reads fall back to the primary
        logger.warning("replica: could not record user %s's write position; the cache does not answer", user_id)


def replica_ready_for(*, user_id: int | None) -> bool:
    """Whether the replica may serve `user_id` (None: a reader with no writes of its own, such as
    /metrics): it answers, it is a replica, and it has replayed the user's last write."""
    if not replica_configured():
        return False
    try:
        pinned = _redis().get(_pin_key(user_id)) if user_id is not None else None
    except Exception:  # noqa: BLE001 - no pins readable: every read goes to the primary
        logger.warning("replica: the cache does not answer; reading from the primary")
        return False
    try:
        with connections[REPLICA].cursor() as cur:
            cur.execute(
                "SELECT pg_is_in_recovery(),"
                " coalesce((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint >= %s::bigint, true)",
                [int(pinned) if pinned is not None else 0],
            )
            in_recovery, caught_up = cur.fetchone()
    except DatabaseError as exc:
        logger.warning("replica: unreadable (%r); reading from the primary", exc)
        connections[REPLICA].close()
        return False
    return bool(in_recovery and caught_up)


@contextmanager
def replica_reads(*, user_id: int | None) -> Iterator[str]:
    """Within the block, ORM reads go to the replica when `replica_ready_for(user_id)`; yields the
    alias read from ("replica" or "default")."""
    alias = REPLICA if replica_ready_for(user_id=user_id) else "default"
    token = _read_alias.set(alias if alias == REPLICA else None)
    try:
        yield alias
    finally:
        _read_alias.reset(token)


class ReplicaRouter:
    """Reads go where `replica_reads` says (the primary outside it); writes and migrations always
    go to the primary."""

    def db_for_read(self, model, **hints) -> str | None:
        return _read_alias.get()

    def db_for_write(self, model, **hints) -> str:
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == "default"


class ReplicaPinMiddleware:
    """After a write request (any method but GET, HEAD, OPTIONS) of a signed-in user, pin that
    user's reads to the primary until the replica has replayed it. DRF authenticates inside the
    view and sets the user on the Django request, so it is known here, after the response."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in self.SAFE and replica_configured():
            user = getattr(request, "user", None)
            if user is not None and getattr(user, "is_authenticated", False):
                replica_pin_write(user_id=user.pk)
        return response


def from_replica(view_method):
    """A view method (`get(self, request, ...)`) whose ORM reads may come from the replica."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        with replica_reads(user_id=request.user.pk):
            return view_method(self, request, *args, **kwargs)

    return wrapper
