"""Helpers for tests that race real database connections (committed data, real lock waits)."""

import time

import psycopg
from django.db import connection


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
