"""The plans PostgreSQL chose for this connection's statements, via auto_explain at NOTICE level
(the plans come back to the client): for tests that a statement is planned robustly."""

import re
from contextlib import contextmanager

from django.db import connection


@contextmanager
def captured_plans():
    """Yields a list that fills with (text of) every plan run on Django's connection meanwhile."""
    plans: list[str] = []
    with connection.cursor() as cur:
        cur.execute("LOAD 'auto_explain'")
        cur.execute("SET auto_explain.log_min_duration = 0")
        cur.execute("SET auto_explain.log_level = 'notice'")

    def handler(diag):
        plans.append(diag.message_primary or "")

    connection.connection.add_notice_handler(handler)
    try:
        yield plans
    finally:
        with connection.cursor() as cur:
            cur.execute("SET auto_explain.log_min_duration = -1")
        connection.connection.remove_notice_handler(handler)


def plan_of(plans: list[str], marker: str) -> str:
    """The one captured plan whose query text holds `marker`."""
    found = [p for p in plans if marker in p]
    assert len(found) == 1, f"{len(found)} plans hold {marker!r}"
    return found[0]


def scans_of(plan: str, table: str) -> list[str]:
    """The plan's lines that read `table` (a scan node), each with the lines of its conditions; a
    Bitmap Heap Scan's read also holds the bitmap's nodes below it (the index it probes)."""
    lines = plan.split("\n")
    out = []
    for i, line in enumerate(lines):
        if "Scan" in line and f" on {table} " in f"{line} ":
            read, depth = [line.strip()], len(line) - len(line.lstrip())
            for follow in lines[i + 1 :]:
                node = follow.strip().startswith("->")
                bitmap = re.match(r"->\s+(Bitmap Index Scan|BitmapAnd|BitmapOr)", follow.strip())
                if not follow.strip() or len(follow) - len(follow.lstrip()) <= depth:
                    break
                if node and not ("Bitmap Heap Scan" in line and bitmap):
                    break
                read.append(follow.strip())
            out.append("\n".join(read))
    return out


def assert_probes(plan: str, table: str) -> list[str]:
    """Every read of `table` in `plan` is an index probe keyed by more than the site: no Seq Scan, no
    walk of an index in order with a filter (the primary key, for an `ORDER BY id LIMIT 1`), no walk
    of the site's stretch of an index; and no merge join walks an index whole. Per-row lookups then
    stay lookups however many rows the table (and the site) holds. Returns the reads (at least one)."""
    reads = scans_of(plan, table)
    assert reads, f"{table} is not read in:\n{plan}"
    for read in reads:
        assert "Seq Scan" not in read, plan
        assert "Index" in read or "Bitmap Heap Scan" in read, plan
        cond = next((line for line in read.split("\n") if line.startswith(("Index Cond:", "Recheck Cond:"))), "")
        assert re.sub(r"\(?site_id = \d+\)?", "", cond).count("=") >= 1, f"not keyed beyond the site: {read}\n{plan}"
    assert "Merge Join" not in plan, plan
    return reads
