"""Helpers for tests that race real database connections (committed data, real lock waits)."""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from django.db import IntegrityError, connection, transaction

T = TypeVar("T")


def conninfo() -> str:
    p = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in p.items() if k in ("dbname", "user", "password", "host", "port")}
    )


def wait_until_blocked(timeout: float = 30) -> None:
    """Until a backend of the test database waits on a lock."""
    with psycopg.connect(conninfo(), autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("no lock wait seen")


def write_while_a_delete_commits(delete_sql: str, params: list, write: Callable[[], T]) -> T | None:
    """Runs `delete_sql` uncommitted on a connection of its own, then `write()` on Django's
    connection in a thread, where it waits on the deleted row's lock; commits the delete and
    returns what `write()` returned once it went on."""
    deleter = psycopg.connect(conninfo())
    deleter.execute(delete_sql, params)
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = write()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_until_blocked()  # the writer's statement waits on the deleted row's lock
        deleter.commit()
    finally:
        deleter.close()
        thread.join(timeout=60)
    return result.get("value")


def fk_error(run) -> bool:
    """Whether `run(cursor)` is refused by a reference check (a trigger's missing or still-named
    row), inside a savepoint on Django's connection."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            run(cur)
    except IntegrityError as exc:
        return "does not exist" in str(exc) or "still name" in str(exc)
    return False
