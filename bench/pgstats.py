"""What the bench reads off PostgreSQL: WAL written, checkpoints, per-statement times, sizes."""

from __future__ import annotations

import psycopg


def checkpoint(conn: psycopg.Connection) -> bool:
    """CHECKPOINT, so that every measured step starts alike: with full_page_writes on, the first
    change of each page after a checkpoint writes the whole page to the WAL. False when the role
    may not (it needs superuser or pg_checkpoint)."""
    try:
        conn.execute("CHECKPOINT")
        return True
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        return False


def wal_lsn(conn: psycopg.Connection) -> str:
    (lsn,) = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    conn.commit()
    return lsn


def wal_since(conn: psycopg.Connection, lsn: str) -> int:
    """WAL bytes written (by anyone) since `lsn`."""
    (n,) = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)::bigint", (lsn,)).fetchone()
    conn.commit()
    return int(n)


def settings(conn: psycopg.Connection, names: tuple[str, ...]) -> dict[str, str]:
    rows = conn.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(names),)).fetchall()
    conn.commit()
    out = {}
    for name, value, unit in rows:
        if unit == "8kB" and value.isdigit():
            value = f"{int(value) * 8 // 1024}MB"
        elif unit in ("MB", "kB", "s", "ms", "min") and value.isdigit():
            value = f"{value}{unit}"
        out[name] = value
    return {n: out.get(n, "?") for n in names}


def has_statements(conn: psycopg.Connection) -> bool:
    (ok,) = conn.execute("SELECT count(*) > 0 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone()
    conn.commit()
    return bool(ok)


def statements_reset(conn: psycopg.Connection) -> bool:
    if not has_statements(conn):
        return False
    try:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.commit()
        return True
    except psycopg.Error:
        conn.rollback()
        return False


def statements_top(conn: psycopg.Connection, limit: int = 12) -> list[dict]:
    """The statements that took longest since the last reset, with their WAL bytes."""
    rows = conn.execute(
        """
        SELECT total_exec_time, calls, rows, wal_bytes, shared_blks_hit + shared_blks_read, temp_blks_written,
               regexp_replace(query, '\\s+', ' ', 'g')
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time DESC LIMIT %s
        """,
        (limit,),
    ).fetchall()
    conn.commit()
    keys = ("ms", "calls", "rows", "wal", "blocks", "temp_blocks", "query")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def relation_bytes(conn: psycopg.Connection, table: str) -> int:
    """On disk, with indexes and TOAST; a partitioned table's is the sum of its partitions'."""
    (n,) = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s::regclass)", (table,)
    ).fetchone()
    conn.commit()
    return int(n)


def client_connections(conn: psycopg.Connection) -> int:
    """Client sessions open on this database, the bench's own excluded: what the server's processes
    hold (each keeps its connection for DB_CONN_MAX_AGE)."""
    (n,) = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    ).fetchone()
    conn.commit()
    return int(n)


def database_bytes(conn: psycopg.Connection) -> int:
    (n,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    conn.commit()
    return int(n)


def cluster_pid(conn: psycopg.Connection) -> int | None:
    """The postmaster's pid when PostgreSQL runs on this machine (its CPU, with every backend's,
    is then readable from /proc), else None."""
    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
    conn.commit()
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def cluster_cpu(pid: int | None) -> float | None:
    """CPU seconds used so far by the whole cluster (every backend, the WAL writer, checkpointer...)."""
    from bench.rss import cpu_seconds

    return cpu_seconds(pid) if pid is not None else None


def mb(n: float) -> str:
    return f"{n / 1_048_576:,.0f} MB"
