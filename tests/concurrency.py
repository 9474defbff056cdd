"""Helpers for tests that race real database connections (committed data, real lock waits).

A race test drives the production function from a thread of its own (`Racer`), learns that
thread's backend (`pg_backend_pid()`) before the function starts, and waits until THAT backend
waits on a lock (`wait_until_blocked(pid)`): another backend waiting on something else never lets
the test go on, and a function that does not take the lock it should fails the wait at once (its
thread ends without having waited)."""

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import psycopg
from django.db import IntegrityError, connection, connections, transaction

T = TypeVar("T")


def conninfo() -> str:
    p = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in p.items() if k in ("dbname", "user", "password", "host", "port")}
    )


def wait_until_blocked(pid: int, *, thread: threading.Thread | None = None, timeout: float = 30) -> None:
    """Until backend `pid` waits on a lock another backend holds (pg_blocking_pids). Fails at once
    when `thread` (the one driving that backend) ends first: it never waited."""
    with psycopg.connect(conninfo(), autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if watcher.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid]).fetchone()[0]:
                return
            if thread is not None and not thread.is_alive():
                raise AssertionError(f"backend {pid} finished without waiting on a lock")
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


class Racer(Generic[T]):
    """`fn()` in a thread of its own, on that thread's own Django connection (closed at the end).
    `pid` is that connection's backend, known before `fn` starts."""

    def __init__(self, fn: Callable[[], T]):
        self._fn, self._pids = fn, queue.Queue()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.pid: int = self._pids.get(timeout=30)

    def _run(self) -> None:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                self._pids.put(cur.fetchone()[0])
            self.result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test by join()
            self.error = exc
            self._pids.put(-1)  # unblocks __init__ when the pid query itself failed
        finally:
            connections.close_all()

    def wait_until_blocked(self, timeout: float = 30) -> None:
        wait_until_blocked(self.pid, thread=self.thread, timeout=timeout)

    def done(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def join(self, timeout: float = 60) -> T:
        """`fn()`'s value; re-raises what it raised."""
        assert self.done(timeout), f"backend {self.pid} still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def write_while_a_delete_commits(delete_sql: str, params: list, write: Callable[[], T]) -> T:
    """Runs `delete_sql` uncommitted on a connection of its own, then `write()` on a Django
    connection in a thread, where it waits on the deleted row's lock; commits the delete and
    returns what `write()` returned once it went on (re-raising what it raised)."""
    deleter = psycopg.connect(conninfo())
    deleter.execute(delete_sql, params)
    try:
        writer = Racer(write)
        writer.wait_until_blocked()  # the writer's statement waits on the deleted row's lock
        deleter.commit()
    finally:
        deleter.close()
    return writer.join()


REFERENCE_REFUSALS = ("does not exist", "still name")


def refused_by_reference_check(run: Callable) -> str:
    """Asserts that `run(cursor)`, in a savepoint on Django's connection, is refused by a reference
    check (a trigger's foreign_key_violation naming a missing or still-named row); returns its
    message. Any other error is re-raised; no error fails the assertion."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            run(cur)
    except IntegrityError as exc:
        cause = exc.__cause__
        if getattr(cause, "sqlstate", None) == "23503" and any(m in str(exc) for m in REFERENCE_REFUSALS):
            return str(exc)
        raise
    raise AssertionError("the write went through: no reference check refused it")


def written(run: Callable) -> int:
    """Runs `run(cursor)` in a savepoint on Django's connection, letting any error through; returns
    the rows its last statement touched (a write that changed nothing is not a write)."""
    with transaction.atomic(), connection.cursor() as cur:
        run(cur)
        count = cur.rowcount
    assert count > 0, "the write touched no row"
    return count
