"""Which failures are the infrastructure's (retry, pause, resume) and which end a sync in `error`.

A sync pauses on a broker or database outage, a lost connection, a worker killed or stopped, and
resumes by itself when the service is back: the task retries with backoff, and beat re-enqueues
lanes nobody has advanced (`syncs_requeue`). Only failures no retry can fix end it in `error`
(a bug: any other exception), and then every row it did not reach is returned as a reject.
"""

from __future__ import annotations

import django.db
import kombu.exceptions
import psycopg
import redis.exceptions
from billiard.exceptions import WorkerLostError
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.processors import ConcurrentWrite

# Errors of publishing a message while the broker is away.
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

TRANSIENT = (
    django.db.OperationalError,  # connection lost, server restarting, deadlock, serialization, disk full
    django.db.InterfaceError,  # connection already closed
    psycopg.OperationalError,
    psycopg.InterfaceError,
    *BROKER_ERRORS,
    ConnectionError,
    TimeoutError,
    WorkerLostError,
    SoftTimeLimitExceeded,  # a chunk slower than the task's time limit (a loaded or restarting server)
    ConcurrentWrite,
)


class ConnectionBroke(django.db.OperationalError):
    """A command's connection broke inside it, seen by psycopg as a protocol anomaly rather than as a
    lost connection: a PostgreSQL restart in the middle of a COMMIT through PgBouncer answers
    "received 2 results from command 'COMMIT'" (psycopg's own `InternalError`, with no SQLSTATE; an
    `InternalError` of the server, class XX, has one and is no such thing). Whether that COMMIT took
    is unknown, and either way running the chunk again is safe: a chunk's lane watermark commits
    with its rows, so a chunk that did commit is a no-op the second time."""


def broken_connection(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, django.db.Error) else exc
    return isinstance(cause, psycopg.InternalError) and getattr(cause, "sqlstate", None) is None


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def overran(exc: BaseException) -> bool:
    """A chunk ran past its time limit: the task's soft limit, or the statement timeout under it."""
    cause = exc.__cause__ if isinstance(exc, django.db.OperationalError) else exc
    return isinstance(exc, SoftTimeLimitExceeded) or isinstance(cause, psycopg.errors.QueryCanceled)
