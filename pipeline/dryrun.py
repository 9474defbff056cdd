"""Dry run of an import: the first rows of a staged file through the real sync pipeline, undone.

What the admin's import preview shows must be what the sync will do, so nothing here restates a
rule: the rows are staged for a definition, a sync row is made for them, and the entity's own chunk
processor (`pipeline.processors.registration_for`) judges and writes them exactly as a sync's chunk
does, rejects included. Then the whole transaction is rolled back: no record, reject, sync or
staged row of the dry run survives, and nothing is enqueued (`delay_on_commit` never fires).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from psycopg import sql

from kernel.models import User
from pipeline.catalog import mappings_for
from pipeline.definitions import definition_body, validate_definition
from pipeline.models import ImportDefinition, Reject, Sync, SyncStatus
from pipeline.planner import chunk_settings
from pipeline.processors import registration_for, staged_chunk

DRY_RUN_ROWS = 20  # rows of the file a dry run judges: enough to see the mapping work, instant
DRY_RUN_TIMEOUT = "30s"  # bound on each statement of a dry run (it holds row locks until undone)


@dataclass
class DryRunRow:
    record_index: int
    values: dict
    outcome: str  # "create", "update", "reject", or "write" (stored; created or updated not known)
    code: str | None = None
    message: str | None = None
    invalid_fields: list = field(default_factory=list)


@dataclass
class DryRunResult:
    rows: list[DryRunRow]
    processed: int
    created: int
    updated: int
    rejected: int


class _Undo(Exception):
    """Raised at the end of the dry run's transaction so that it rolls back."""


def sync_dry_run(
    *,
    staged_definition_id: int,
    definition: ImportDefinition | Callable[[], ImportDefinition],
    user: User,
    rows: int = DRY_RUN_ROWS,
) -> DryRunResult:
    """Judge and write the first `rows` staged rows of `staged_definition_id` (in staging order) as a
    sync of `definition` would, then undo it all. `definition` may be a callable that makes the
    definition (a new one, through `import_definition_create`): it is made inside the transaction
    and undone with the rest. Raises what `sync_start` would (ValidationFailed for a definition
    that no longer validates)."""
    outcome: list[DryRunResult] = []
    try:
        with transaction.atomic(durable=True):
            target = definition() if callable(definition) else definition
            outcome.append(_run(staged_definition_id, target, user, rows))
            raise _Undo
    except _Undo:
        pass
    return outcome[0]


def _run(staged_definition_id: int, target: ImportDefinition, user: User, rows: int) -> DryRunResult:
    validate_definition(site=target.site, entity=target.entity, body=definition_body(target))
    # A copy of the definition (same fields and rules) holds the dry run's staged rows, so that no
    # other row of the real definition (an API upload committing meanwhile) can join them.
    shadow = ImportDefinition.objects.get(pk=target.pk)
    shadow.pk = None
    shadow.is_internal = True
    shadow.save()
    with connection.cursor() as django_cur:
        cur = django_cur.cursor
        chunk_settings(cur, statement_timeout=DRY_RUN_TIMEOUT, work_mem=None)
        cur.execute(
            "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)"
            " SELECT %s, upload_id, data FROM bulkapi_stagedrow WHERE definition_id = %s ORDER BY id LIMIT %s"
            " RETURNING id",
            [shadow.pk, staged_definition_id, rows],
        )
        ids = sorted(r[0] for r in cur.fetchall())
        sync = Sync.objects.create(
            site=target.site,
            definition=shadow,
            synced_instance_uri=target.uri,
            created_by=user.username,
            status=SyncStatus.ACTIVE,
            total_rows=len(ids),
            upto_id=ids[-1] if ids else 0,
            range_ends=[ids[-1]] if ids else [],
            range_rows=max(1, len(ids)),
            lanes=1,
        )
        if not ids:
            return DryRunResult(rows=[], processed=0, created=0, updated=0, rejected=0)
        table = registration_for(target.entity).records
        before = 0
        if table is not None:
            cur.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier(table)))
            before = cur.fetchone()[0]
        mappings = mappings_for(shadow)
        result = registration_for(shadow.entity).processor(
            cur,
            sync_id=sync.pk,
            site_id=target.site_id,
            definition=shadow,
            mappings=mappings,
            source=staged_chunk(definition_id=shadow.pk, lo=ids[0] - 1, hi=ids[-1], base=0),
        )
        cur.execute("SELECT id, data FROM bulkapi_stagedrow WHERE definition_id = %s ORDER BY id", [shadow.pk])
        staged = [(i, _json(data)) for i, data in cur.fetchall()]
        written = _written(cur, table, target, mappings, sync.pk, before)
    rejects = {r.record_index: r for r in Reject.objects.filter(sync=sync)}
    ident_key = target.identifier_field_name or target.link_match_field_name
    out = []
    for rec, (_, data) in enumerate(staged, start=1):
        reject = rejects.get(rec)
        if reject is not None:
            out.append(
                DryRunRow(
                    record_index=rec,
                    values=data,
                    outcome="reject",
                    code=reject.status_code,
                    message=reject.message,
                    invalid_fields=list(reject.invalid_fields or []),
                )
            )
            continue
        key = (data.get(ident_key) or "").strip().lower() if ident_key else ""
        out.append(DryRunRow(record_index=rec, values=data, outcome=written.get(key, "write")))
    return DryRunResult(
        rows=out,
        processed=result.processed,
        created=result.created,
        updated=result.updated,
        rejected=result.rejected,
    )


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _written(cur, table, target, mappings, sync_id: int, before: int) -> dict[str, str]:
    """Identifier (trimmed, lower-cased) -> "create"/"update" for the records the dry run wrote:
    they carry its sync id, and a created one has an id past the table's highest before it ran."""
    if table is None:
        return {}
    ident = next((m for m in mappings if m.key == target.identifier_field_name), None)
    if ident is None or not ident.field.column:
        return {}
    cur.execute(
        sql.SQL("SELECT lower(btrim({col})), id > %s FROM {table} WHERE site_id = %s AND last_sync_id = %s").format(
            col=sql.Identifier(ident.field.column), table=sql.Identifier(table)
        ),
        [before, target.site_id, sync_id],
    )
    return {key: "create" if created else "update" for key, created in cur.fetchall() if key is not None}
