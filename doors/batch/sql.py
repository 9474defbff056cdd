"""Set-based SQL of the batch door: cross-row validation of a staged file, and the batch part of
each sync chunk (contacts, links, the job's row map; the batch-only opportunity columns ride along in the opportunity INSERT: `OPPORTUNITY_EXTRA`).

Staged row data (written by `services.batch_job_create`, one row per valid CSV row, file order):
`Reference`, `Name`, `OpportunityValue`, `CurrencyCode`, `PipelineStage` (the definition's keys,
synced by `entities.opportunities.sql.process_chunk`) and the batch's own keys: `_row` (1-based data row),
`_generated` (Reference was generated), `OpportunityDateTime` (canonical UTC text), `EmailAddress`,
`PhoneNumber` (E.164), `RaId`, `PayloadValue`, `Label` (json array), `AdditionalDataProperties`
(json object).
"""

from __future__ import annotations

from psycopg import sql

from doors.batch.models import BatchJob, BatchRow
from entities.contacts.models import Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity
from kernel.exceptions import Failure
from pipeline.planner import without_seq_scans

# Each identifier kind grouped on its own (a VALUES list joined to every row to make one key column
# cost twice the whole query: 1.1 of 2.2 s on 200,000 rows); duplicates are rare, so finding the
# later rows of each duplicate group joins on the date-time alone and compares the kind's value.
CONFLICTS = """
WITH r AS MATERIALIZED (
  SELECT (s.data ->> '_row')::bigint AS rn, s.data ->> 'OpportunityDateTime' AS t,
         lower(s.data ->> 'EmailAddress') AS email, s.data ->> 'PhoneNumber' AS phone,
         s.data ->> 'RaId' AS raid, s.data ->> 'PayloadValue' AS payload,
         CASE WHEN s.data ? '_generated' THEN NULL ELSE s.data ->> 'Reference' END AS ref
  FROM bulkapi_stagedrow s WHERE s.definition_id = %(definition)s
), dup AS MATERIALIZED (
  SELECT 'EmailAddress' AS col, email AS val, t, min(rn) AS first FROM r WHERE email IS NOT NULL
  GROUP BY email, t HAVING count(*) > 1
  UNION ALL
  SELECT 'PhoneNumber', phone, t, min(rn) FROM r WHERE phone IS NOT NULL GROUP BY phone, t HAVING count(*) > 1
  UNION ALL
  SELECT 'RaId', raid, t, min(rn) FROM r WHERE raid IS NOT NULL GROUP BY raid, t HAVING count(*) > 1
  UNION ALL
  SELECT 'PayloadValue', payload, t, min(rn) FROM r WHERE payload IS NOT NULL GROUP BY payload, t HAVING count(*) > 1
), refdup AS (
  SELECT lower(ref) AS lref, min(rn) AS first FROM r WHERE ref IS NOT NULL GROUP BY lower(ref) HAVING count(*) > 1
), found AS (
  SELECT r.rn, dup.col AS field, dup.val AS value,
         'Duplicate: row ' || dup.first || ' has the same ' || dup.col || ' and OpportunityDateTime.' AS why
  FROM dup JOIN r ON r.t = dup.t AND r.rn > dup.first
  WHERE dup.val = CASE dup.col WHEN 'EmailAddress' THEN r.email WHEN 'PhoneNumber' THEN r.phone
                               WHEN 'RaId' THEN r.raid ELSE r.payload END
  UNION ALL
  SELECT r.rn, 'Reference', r.ref, 'Must be unique within the file: row ' || refdup.first || ' has it already.'
  FROM r JOIN refdup ON refdup.lref = lower(r.ref) WHERE r.rn > refdup.first
)
SELECT rn, field, value, why, count(*) OVER () FROM found ORDER BY rn, field LIMIT %(cap)s
"""


def validation_conflicts(cursor, *, definition_id: int, cap: int) -> tuple[list[Failure], int]:
    """Cross-row rule violations of the staged file: (the first `cap` by row, how many in all). A
    Reference the site already has is no violation: that row updates its opportunity."""
    cursor.execute("SET LOCAL work_mem = '256MB'")  # hash aggregates over a whole file
    cursor.execute(CONFLICTS, {"definition": definition_id, "cap": cap})
    rows = cursor.fetchall()
    failures = [Failure(field=f, row=rn, value=v, constraint=why) for rn, f, v, why, _ in rows]
    return failures, (rows[0][4] if rows else 0)


# The opportunity columns only a batch row gives, written with the opportunity itself
# (`entities.opportunities.sql.process_chunk(extra=...)`); values were validated and canonicalised on upload.
OPPORTUNITY_EXTRA = {
    "occurred_at": sql.SQL("(s.data ->> 'OpportunityDateTime')::timestamptz"),
    "labels": sql.SQL("ARRAY(SELECT jsonb_array_elements_text(COALESCE(s.data -> 'Label', '[]')))::varchar(255)[]"),
    "properties": sql.SQL("COALESCE(s.data -> 'AdditionalDataProperties', '{}')"),
}


# Advisory lock namespace (first key) of a batch sync's contact step ("bcon").
CONTACTS_LOCK = 0x62636F6E


def _t(model) -> sql.Identifier:
    return sql.Identifier(model._meta.db_table)


def apply_chunk(cursor, *, sync_id: int, site_id: int, definition_id: int, source: sql.Composable) -> None:
    """After `process_chunk` wrote the chunk's staged rows (`source`, with `OPPORTUNITY_EXTRA`): the
    contacts, links, row map.

    Stored rows are the chunk's staged rows without a reject of this sync (record_index == `_row`,
    because a batch definition holds one upload staged in file order); each became, or updated, the
    opportunity with its Reference as external id (any letter case: the lowest id among case
    variants, the one `process_chunk` matches). A row created its opportunity when `process_chunk`
    recorded that id in `_created` (exactly its `created` count; an opportunity another writer
    created meanwhile is an update there and here).
    """
    params = {"sync": sync_id, "site": site_id, "definition": definition_id}
    names = {
        "opp": _t(Opportunity),
        "contact": _t(Contact),
        "link": _t(OpportunityContact),
        "batchrow": _t(BatchRow),
        "job": _t(BatchJob),
    }
    # Each row finds its opportunity by one index probe (a LATERAL subquery kept whole by OFFSET 0,
    # no seq scan, both identifier indexes' columns given): statistics from before this chunk's
    # INSERT may say the site has no opportunities, and a join planned on that belief walked the
    # chunk's staged rows once per opportunity just written (a 4,500-row first chunk took 14 s).
    with without_seq_scans(cursor):
        cursor.execute(
            sql.SQL(
                """
                CREATE TEMP TABLE _batch ON COMMIT DROP AS
                SELECT (s.data ->> '_row')::bigint AS row_number, o.id AS opportunity_id, false AS created,
                       btrim(s.data ->> 'Reference') AS ref,
                       s.data ->> 'EmailAddress' AS email, s.data ->> 'PhoneNumber' AS phone,
                       s.data ->> 'RaId' AS raid, s.data ->> 'PayloadValue' AS payload,
                       NULL::bigint AS contact_id
                FROM {source} s
                LEFT JOIN LATERAL (
                  SELECT o.id FROM {opp} o
                  WHERE o.site_id = %(site)s AND o.external_id = btrim(s.data ->> 'Reference')
                    AND lower(o.external_id) = lower(btrim(s.data ->> 'Reference'))
                  OFFSET 0
                ) o ON true
                WHERE NOT EXISTS (SELECT 1 FROM syncs_reject j
                                  WHERE j.sync_id = %(sync)s AND j.record_index = (s.data ->> '_row')::bigint)
                """
            ).format(source=source, **names),
            params,
        )
        # A row whose Reference the site has in another letter case updated that opportunity (the
        # lowest id among the variants, as `process_chunk` matched it): rare, so looked up apart.
        cursor.execute(
            sql.SQL(
                """
                UPDATE _batch b SET opportunity_id = (
                  SELECT o.id FROM {opp} o
                  WHERE o.site_id = %(site)s AND lower(o.external_id) = lower(b.ref) ORDER BY o.id + 0 LIMIT 1
                ) WHERE b.opportunity_id IS NULL
                """
            ).format(**names),
            params,
        )
    # A row without its opportunity (none expected: this transaction wrote or locked each) gets no
    # row map, as when this was an inner join.
    cursor.execute("DELETE FROM _batch WHERE opportunity_id IS NULL")
    cursor.execute("UPDATE _batch b SET created = true FROM _created c WHERE c.id = b.opportunity_id")
    cursor.execute("DROP TABLE _created")
    # Autovacuum never analyses temp tables: without row counts the planner joins _batch to itself
    # by nested loops in the contact matching below (a 20,000-row chunk ran past 600 s).
    cursor.execute("ANALYZE _batch")
    cursor.execute(
        sql.SQL(
            "INSERT INTO {batchrow} (job_id, row_number, opportunity_id, created)"
            " SELECT j.id, b.row_number, b.opportunity_id, b.created FROM _batch b"
            " CROSS JOIN (SELECT id FROM {job} WHERE definition_id = %(definition)s) j"
            " ORDER BY b.row_number ON CONFLICT DO NOTHING"
        ).format(**names),
        params,
    )
    # The lane's own writes are done: fire whatever deferred FK checks they queued (opportunities,
    # contacts and job rows have statement triggers instead; rejects still queue one each) while the
    # other lane may still be busy, then find or create contacts one lane at a time (a lock per
    # sync held to commit), so a lane always sees the contacts the other lanes made. Lanes never
    # create contacts side by side: no waits on each other's unique keys.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(
        "SELECT pg_advisory_xact_lock(%(lock)s, (%(sync)s %% 2147483647)::int)", {**params, "lock": CONTACTS_LOCK}
    )
    _contacts(cursor, names, params)
    # Links have no FK constraints: the linked contacts are locked FOR KEY SHARE here (one deleted
    # since it was matched is skipped, and its row gets no link; see entities.linkage.models.OpportunityContact).
    cursor.execute(
        sql.SQL(
            "INSERT INTO {link} (site_id, opportunity_id, contact_id, sync_id, created_at)"
            " SELECT %(site)s, b.opportunity_id, b.contact_id, %(sync)s, now() FROM _batch b"
            " JOIN (SELECT c.id FROM {contact} c WHERE c.id IN (SELECT contact_id FROM _batch) FOR KEY SHARE) c"
            " ON c.id = b.contact_id ORDER BY b.opportunity_id ON CONFLICT DO NOTHING"
        ).format(**names),
        params,
    )
    cursor.execute("DROP TABLE _batch")


# Identifier kinds in matching precedence: (_batch column, the contact's indexed value it matches,
# the row's value). EmailAddress -> contact email (case-insensitive), PhoneNumber -> phone (E.164),
# RaId -> visitor_id, PayloadValue -> external_id (the contact's id in the customer's own system).
# `processor.lane_key` follows the same precedence, so rows that would match or create one contact
# share a lane.
_KINDS = (
    ("email", "lower(c.email)", "lower(b.email)"),
    ("phone", "c.phone", "b.phone"),
    ("raid", "c.visitor_id", "b.raid"),
    ("payload", "c.external_id", "b.payload"),
)


def _contacts(cursor, names: dict, params: dict) -> None:
    """Find or create each row's contact: by email (case-insensitive), else phone, else visitor id
    (RaId), else external id (PayloadValue). Kind by kind: match existing contacts, create one contact
    per distinct unmatched value (carrying the row's other identifiers), match again. Conflicts on
    the unique email/external id (another sync racing) are skipped and matched by the next step.

    Every lookup into contacts is one index probe per distinct value, whatever the statistics say
    (no seq scan; subqueries kept whole by OFFSET 0 and LIMIT): the site's contacts grow by each
    chunk, and plans made on statistics from before read all of them once per chunk (a merge join
    along the site's whole e-mail index, a hash of every contact for the external-id check: 1.4
    and 2.4 s a chunk at 1,000,000 rows, where the probes take a tenth of that)."""
    with without_seq_scans(cursor):
        for staged, column, key in _KINDS:
            match = sql.SQL(
                """
                UPDATE _batch b SET contact_id = m.id FROM (
                  SELECT k.k, c.id FROM (
                    SELECT DISTINCT {key} AS k FROM _batch b WHERE b.contact_id IS NULL AND b.{staged} IS NOT NULL
                  ) k
                  CROSS JOIN LATERAL (
                    SELECT c.id FROM {contact} c WHERE c.site_id = %(site)s AND {column} = k.k
                    ORDER BY c.id + 0 LIMIT 1
                  ) c
                ) m WHERE b.contact_id IS NULL AND {key} = m.k
                """
            ).format(key=sql.SQL(key), column=sql.SQL(column), staged=sql.Identifier(staged), **names)
            cursor.execute(match, params)
            cursor.execute(
                sql.SQL(
                    """
                    INSERT INTO {contact} (site_id, email, phone, visitor_id, external_id)
                    SELECT %(site)s, n.email, n.phone, n.raid,
                           CASE WHEN n.payload_rank = 1 AND NOT EXISTS (
                             SELECT 1 FROM {contact} c WHERE c.site_id = %(site)s AND c.external_id = n.payload OFFSET 0)
                           THEN n.payload END
                    FROM (
                      SELECT d.*, row_number() OVER (PARTITION BY d.payload ORDER BY d.row_number) AS payload_rank
                      FROM (
                        SELECT DISTINCT ON ({key}) b.row_number, b.email, b.phone, b.raid, b.payload FROM _batch b
                        WHERE b.contact_id IS NULL AND b.{staged} IS NOT NULL ORDER BY {key}, b.row_number
                      ) d
                    ) n
                    ORDER BY n.row_number
                    ON CONFLICT DO NOTHING
                    """
                ).format(key=sql.SQL(key), staged=sql.Identifier(staged), **names),
                params,
            )
            # Again even when nothing was inserted: a contact another job committed since the first
            # match made this insert skip its row; it is matched now.
            cursor.execute(match, params)
