"""The sync processor of batch definitions: the opportunity chunk, then the batch's own SQL."""

from __future__ import annotations

from psycopg import sql

from doors.batch import sql as batch_sql
from entities.opportunities import sql as opportunity_sql
from entities.opportunities.catalog import OPPORTUNITY, OPPORTUNITY_FIELDS
from pipeline.catalog import EntitySpec
from pipeline.processors import ChunkResult

# The opportunity statements; batch-only values (date-time, labels, properties, visitor
# identifiers) travel as extra keys of the staged rows and are written by `doors.batch.sql`.
OPPORTUNITY_BATCH = EntitySpec(
    entity="opportunity_batch",
    label="Opportunity batch upload",
    # Internal definitions of the batch upload door: syncs record this uri, the Bulk API does not
    # route it, so Bulk clients never see them.
    imports_uri="/batches/imports",
    bulk_routed=False,
    statement_root="opportunity",
    fields_uri="/batches/fields",
    standard=OPPORTUNITY_FIELDS,
    required=OPPORTUNITY.required,
    identifier=OPPORTUNITY.identifier,
)


def lane_key(definition, mappings) -> sql.Composable:
    """Rows are spread over lanes by the identifier their contact is matched on first (e-mail, else
    phone, else RaId, else PayloadValue): rows that would create the same contact share a lane.
    References are unique in the file, so no two lanes write the same opportunity."""
    return sql.SQL(
        "COALESCE(lower(s.data ->> 'EmailAddress'), s.data ->> 'PhoneNumber', s.data ->> 'RaId',"
        " s.data ->> 'PayloadValue')"
    )


def process_batch_chunk(cursor, **kw) -> ChunkResult:
    """Runs in the sync's chunk transaction, on the chunk's staged rows (deleted when the sync ends)."""
    result = opportunity_sql.process_chunk(cursor, extra=batch_sql.OPPORTUNITY_EXTRA, record_created=True, **kw)
    batch_sql.apply_chunk(
        cursor,
        sync_id=kw["sync_id"],
        site_id=kw["site_id"],
        definition_id=kw["definition"].pk,
        source=kw["source"],
    )
    return result
