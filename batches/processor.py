"""The sync processor of batch definitions: the opportunity chunk, then the batch's own SQL."""

from __future__ import annotations

from psycopg import sql

from bulkapi.catalog import EntitySpec
from bulkapi.models import Entity
from opportunities import sql as opportunity_sql
from opportunities.catalog import OPPORTUNITY, OPPORTUNITY_FIELDS
from syncs.processors import ChunkResult

from . import sql as batch_sql

# The opportunity statements; batch-only values (date-time, labels, properties, visitor
# identifiers) travel as extra keys of the staged rows and are written by `batches.sql`.
OPPORTUNITY_BATCH = EntitySpec(
    entity=Entity.OPPORTUNITY_BATCH,
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
