"""Set-based SQL of the Capillary door: the row map of a job whose opportunity sync has ended.

The file's rows were synced by the opportunity processor; a row is stored when its sync has no
reject for it (record index = the file's data row number, since the job's definition holds only
that file). Its opportunity is the one with its identifier, matched as the sync matched it.
"""

from __future__ import annotations

from psycopg import sql

from doors.batch.models import BatchRow
from entities.opportunities.models import Opportunity
from pipeline.models import Reject


def row_map_begin(cursor) -> None:
    cursor.execute("CREATE TEMP TABLE _capmap (row_number bigint, ref text) ON COMMIT DROP")


def row_map_copy(cursor, rows: list[tuple[int, str | None]]) -> None:
    with cursor.copy("COPY _capmap (row_number, ref) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def row_map_insert(cursor, *, batch_job_id: int, site_id: int, sync_id: int, case_sensitive: bool) -> int:
    """Insert the stored rows' BatchRow (job, row number, opportunity); returns how many."""
    cursor.execute("ANALYZE _capmap")
    ref = sql.SQL("NULLIF(btrim(m.ref), '')")
    match = (
        sql.SQL("o.external_id = {}").format(ref)
        if case_sensitive
        else sql.SQL("lower(o.external_id) = lower({})").format(ref)
    )
    cursor.execute(
        sql.SQL(
            """
            INSERT INTO {batchrow} (job_id, row_number, opportunity_id)
            SELECT %(job)s, m.row_number, o.id FROM _capmap m
            CROSS JOIN LATERAL (
              SELECT o.id FROM {opp} o WHERE o.site_id = %(site)s AND {match} ORDER BY o.id LIMIT 1
            ) o
            WHERE NOT EXISTS (SELECT 1 FROM {reject} j WHERE j.sync_id = %(sync)s AND j.record_index = m.row_number)
            ORDER BY m.row_number
            ON CONFLICT DO NOTHING
            """
        ).format(
            batchrow=sql.Identifier(BatchRow._meta.db_table),
            opp=sql.Identifier(Opportunity._meta.db_table),
            reject=sql.Identifier(Reject._meta.db_table),
            match=match,
        ),
        {"job": batch_job_id, "site": site_id, "sync": sync_id},
    )
    inserted = cursor.rowcount
    cursor.execute("DROP TABLE _capmap")
    return inserted
