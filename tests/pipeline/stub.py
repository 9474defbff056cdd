"""A stub entity for testing the engine on its own: a catalog of two string fields and a trivial,
set-based chunk processor that writes no entity table.

Registered for a test only (`stub_entity`, a context manager) and unregistered after, through the
same hooks a real entity calls in its `AppConfig.ready()` (`pipeline.catalog.register`,
`pipeline.processors.register_processor`).

What the processor does with a chunk's staged rows, judged by their `Value`:
- 'bad': rejected (ELQ-00032) through `pipeline.sql.insert_rejects`, as a real processor does;
- 'old': counted as updated; anything else: counted as created.
Every row it handles is written to the session's temp table `stub_ledger` (sync, staged id, record
index, outcome), in the chunk's transaction, so a chunk that rolls back leaves no line there: the
ledger is what the engine committed, for tests to check against the sync's counters and rejects.

`Stub.fault`, when set, is called with the chunk's record indexes after the chunk's rows are
written (ledger and rejects), and the exception it returns, if any, is raised: a chunk that fails
half-way through its work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from psycopg import sql

from kernel import models as kernel_models
from pipeline import catalog, processors
from pipeline.catalog import EntitySpec, FieldSpec
from pipeline.models import DataType, Severity, SyncLog
from pipeline.processors import ChunkResult, staged_key
from pipeline.sql import insert_rejects

ENTITY = "enginestub"
MALFORMED = ("ELQ-00032", "Malformed records.")
# The stub's own summary log (its `finish_logs`): how many things it "created".
FINISH_LOG = ("STUB-00001", "Stub things created.")

SPEC = EntitySpec(
    entity=ENTITY,
    label="Engine stub",
    statement_root="stub",
    fields_uri="/enginestubs/fields",
    imports_uri="/enginestubs/imports",
    standard=(
        FieldSpec(900001, "Name", "Name", "{{Stub.Field(Name)}}", DataType.STRING, "name", 100),
        FieldSpec(900002, "Value", "Value", "{{Stub.Field(Value)}}", DataType.STRING, "value", 100),
    ),
)
FIELDS = [["Name", "{{Stub.Field(Name)}}"], ["Value", "{{Stub.Field(Value)}}"]]


@dataclass
class Stub:
    # record indexes of every call of the processor, committed or not
    calls: list[list[int]] = field(default_factory=list)
    # (sync id, created count) each time the engine asked for the entity's finish logs
    finish_calls: list[tuple[int, int]] = field(default_factory=list)
    fault: Callable[[list[int]], BaseException | None] | None = None

    def process_chunk(self, cursor, *, sync_id, site_id, definition, mappings, source) -> ChunkResult:
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE _rows ON COMMIT DROP AS SELECT q.sid, q.rec,"
                " CASE WHEN q.data ->> 'Value' = 'bad' THEN {code} END AS code,"
                " CASE WHEN q.data ->> 'Value' = 'bad' THEN 'rejected'"
                "      WHEN q.data ->> 'Value' = 'old' THEN 'updated' ELSE 'created' END AS outcome"
                " FROM {source} q"
            ).format(code=sql.Literal(MALFORMED[0]), source=source)
        )
        rejected = insert_rejects(
            cursor,
            invalid_fields=sql.SQL("ARRAY['Value']::text[]"),
            messages=dict([MALFORMED]),
            params={"sync": sync_id, "definition": definition.pk},
        )
        cursor.execute(
            "INSERT INTO stub_ledger (sync_id, sid, rec, outcome) SELECT %s, sid, rec, outcome FROM _rows", [sync_id]
        )
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'created'), count(*) FILTER (WHERE outcome = 'updated'),"
            " COALESCE(array_agg(rec ORDER BY rec), '{}') FROM _rows"
        )
        processed, created, updated, recs = cursor.fetchone()
        cursor.execute("DROP TABLE _rows")
        self.calls.append(list(recs))
        if self.fault is not None and (exc := self.fault(list(recs))) is not None:
            raise exc
        return ChunkResult(processed=processed, rejected=rejected, created=created, updated=updated)

    def finish_logs(self, sync) -> list[SyncLog]:
        self.finish_calls.append((sync.pk, sync.created_count))
        return [
            SyncLog(sync=sync, status_code=FINISH_LOG[0], message=FINISH_LOG[1], count=sync.created_count,
                    severity=Severity.INFORMATION)
        ]  # fmt: skip


def lane_key(definition, mappings) -> sql.Composable:
    return staged_key("Name")


@contextmanager
def stub_entity() -> Iterator[Stub]:
    """Register the stub entity (catalog, processor, entity choice) and its ledger, for the block
    only; whatever was registered under its name before is put back after."""
    stub = Stub()
    saved = (
        catalog._REGISTRY.get(ENTITY),
        processors._REGISTRY.get(ENTITY),
        kernel_models._ENTITY_CHOICES.get(ENTITY),
    )
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stub_ledger (sync_id bigint, sid bigint, rec bigint, outcome text)"
        )
    catalog.register(SPEC)
    processors.register_processor(
        ENTITY,
        lambda cursor, **kw: stub.process_chunk(cursor, **kw),
        finish_logs=lambda sync: stub.finish_logs(sync),
        lane_key=lane_key,
    )
    try:
        yield stub
    finally:
        for registry, value in zip(
            (catalog._REGISTRY, processors._REGISTRY, kernel_models._ENTITY_CHOICES), saved, strict=True
        ):
            if value is None:
                registry.pop(ENTITY, None)
            else:
                registry[ENTITY] = value


def ledger(sync_id: int) -> list[tuple[int, int, str]]:
    """(staged id, record index, outcome) of every row the engine committed for the sync, by record index."""
    with connection.cursor() as cur:
        cur.execute("SELECT sid, rec, outcome FROM stub_ledger WHERE sync_id = %s ORDER BY rec, sid", [sync_id])
        return cur.fetchall()
