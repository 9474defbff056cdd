"""Import definitions (create, change, delete), loading data into staging, and retention: the
pipeline's services every door calls (they were in kernel.services)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from kernel.exceptions import Conflict, Failure
from kernel.models import Site, User
from pipeline.definitions import definition_body, validate_definition
from pipeline.models import ImportDefinition, StagedRow, StagedUpload
from pipeline.staging import staged_rows_load_csv, staged_rows_load_json


def _apply(definition: ImportDefinition, values: dict) -> None:
    delta = values.pop("_auto_delete_delta", None)
    for key, value in values.items():
        setattr(definition, key, value)
    base = definition.created_at or timezone.now()
    definition.auto_delete_at = base + delta if delta else None


def import_definition_create(*, site: Site, user: User, entity: str, body: object) -> ImportDefinition:
    values = validate_definition(site=site, entity=entity, body=body)
    definition = ImportDefinition(site=site, entity=entity, created_by=user.username, updated_by=user.username)
    _apply(definition, values)
    definition.save()
    # One instant for both audit stamps of a new definition, as Eloqua answers.
    ImportDefinition.objects.filter(pk=definition.pk).update(updated_at=definition.created_at)
    definition.updated_at = definition.created_at
    return definition


def import_definition_update(*, definition: ImportDefinition, user: User, body: object) -> ImportDefinition:
    """PUT: a full replacement of the writable properties; refused (409) while one of its syncs is
    pending or active (its chunks read the definition's fields, identifier and rules as they are
    now: a change mid-sync would move rows between lanes, or judge them by other rules)."""
    values = validate_definition(site=definition.site, entity=definition.entity, body=body)
    with transaction.atomic():
        _lock_without_running_sync(definition)
        _apply(definition, values)
        definition.updated_by = user.username
        definition.save()
    return definition


def definition_has_running_sync(definition: ImportDefinition) -> bool:
    from pipeline.models import Sync, SyncStatus

    return Sync.objects.filter(definition=definition, status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).exists()


RUNNING_SYNC = "A sync of this import is pending or active."


def _lock_without_running_sync(definition: ImportDefinition) -> None:
    """Lock the definition as a sync's snapshot does (FOR UPDATE), then Conflict if one of its
    syncs is pending or active."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
    if definition_has_running_sync(definition):
        raise Conflict([Failure(field="syncs", constraint=RUNNING_SYNC)])


def import_definition_delete(*, definition: ImportDefinition) -> None:
    """Delete with its staged rows; refused (409) while one of its syncs is pending or active."""
    with transaction.atomic(durable=True):
        _lock_without_running_sync(definition)
        StagedRow.objects.filter(definition=definition).delete()
        definition.delete()


def imports_purge_expired() -> dict[str, int]:
    """Retention: staged rows past their definition's dataRetentionDuration, definitions past
    autoDeleteDuration. Rows a sync has claimed (pending/active) are left alone. Ended syncs past
    BULK_HISTORY_SECONDS go too, with their rejects and logs (`syncs_purge_history`).

    Whole partitions of staged rows go first (`pipeline.partitions`: sealed, and no row in them
    still wanted), dropped rather than deleted; what is left expired in the others is deleted row
    by row, as before."""
    from pipeline.models import SyncStatus
    from pipeline.partitions import staged_partitions_drop, staged_partitions_upkeep
    from pipeline.services.history import syncs_purge_history

    history = syncs_purge_history()  # first: it frees the uploads of the syncs it deletes
    staged_partitions_upkeep()
    partitions = len(staged_partitions_drop())
    now = timezone.now()
    rows = staged_rows_purge_expired(now=now)
    definitions = 0
    for definition in ImportDefinition.objects.filter(auto_delete_at__lte=now).exclude(
        Q(syncs__status=SyncStatus.PENDING) | Q(syncs__status=SyncStatus.ACTIVE)
    ):
        try:
            import_definition_delete(definition=definition)
            definitions += 1
        except Conflict:
            continue
    from kernel.idempotency import keys_purge_expired

    return {
        "staged_rows": rows,
        "staged_partitions": partitions,
        "definitions": definitions,
        "idempotency_keys": keys_purge_expired(),
        **history,
    }


def staged_rows_purge_expired(*, now) -> int:
    """Delete, row by row, the staged rows of every upload past its definition's retention at
    `now` whose sync (if any) is not pending or active; returns how many."""
    from pipeline.models import SyncStatus

    with transaction.atomic(durable=True), connection.cursor() as cur:
        # First the definitions, FOR SHARE, as an upload holds them: a sync's snapshot (FOR UPDATE)
        # cannot claim their uploads until this commits, and the next statement sees every claim
        # committed before (a claim made between one statement's read and its delete was lost).
        # Definitions being snapshotted right now are skipped, till the next purge.
        cur.execute(
            "SELECT d.id FROM bulkapi_importdefinition d WHERE EXISTS (SELECT 1 FROM bulkapi_stagedupload u"
            " WHERE u.definition_id = d.id AND u.created_at < %s - make_interval(secs => d.data_retention_seconds))"
            " ORDER BY d.id FOR SHARE SKIP LOCKED",
            [now],
        )
        locked = [row[0] for row in cur.fetchall()]
        cur.execute(
            """
            WITH expired AS (
              SELECT u.id, u.definition_id FROM bulkapi_stagedupload u
              JOIN bulkapi_importdefinition d ON d.id = u.definition_id
              LEFT JOIN syncs_sync s ON s.id = u.sync_id
              WHERE d.id = ANY(%s) AND u.created_at < %s - make_interval(secs => d.data_retention_seconds)
                AND (s.id IS NULL OR s.status NOT IN (%s, %s))
            ), gone AS (
              DELETE FROM bulkapi_stagedrow r USING expired e
              WHERE r.definition_id = e.definition_id AND r.upload_id = e.id RETURNING 1
            ), dropped AS (
              DELETE FROM bulkapi_stagedupload u USING expired e WHERE u.id = e.id AND u.sync_id IS NULL
            )
            SELECT count(*) FROM gone
            """,
            [locked, now, SyncStatus.PENDING, SyncStatus.ACTIVE],
        )
        rows = cur.fetchone()[0]
    return rows


CSV_TYPES = ("text/csv", "application/csv", "text/plain")
JSON_TYPES = ("application/json", "", "text/json")


@dataclass
class UploadOutcome:
    """What a data upload did: the staged upload, and the sync it triggered (or why it could not)."""

    upload: StagedUpload | None = None
    sync: object | None = None  # pipeline.models.Sync
    conflict: Conflict | None = None


def import_data_load(
    *,
    definition: ImportDefinition,
    user: User,
    stream,
    content_type: str,
    content_length: int | None,
    before_commit: Callable[[UploadOutcome], None] | None = None,
) -> UploadOutcome:
    """Stage an upload (CSV or JSON by `content_type`, one of CSV_TYPES/JSON_TYPES) and, when the
    definition syncs on import, make its sync in the same transaction: the rows, the sync and
    `before_commit(outcome)` (the request's idempotency record) commit together. A sync already
    running leaves the rows staged and the outcome's `conflict` set (a 409, as `POST /syncs`)."""
    from pipeline.services import running_conflict, sync_snapshot

    if definition.is_sync_triggered_on_import:  # validated again when syncing (Eloqua 20D), before staging
        validate_definition(site=definition.site, entity=definition.entity, body=definition_body(definition))
    outcome = UploadOutcome()

    def at_commit(upload: StagedUpload) -> None:
        outcome.upload = upload
        if definition.is_sync_triggered_on_import:
            try:
                with transaction.atomic():
                    outcome.sync = sync_snapshot(definition=definition, user=user)
            except IntegrityError:
                outcome.conflict = running_conflict(definition)
        if before_commit is not None:
            before_commit(outcome)

    load = staged_rows_load_csv if content_type in CSV_TYPES else staged_rows_load_json
    load(definition=definition, stream=stream, content_length=content_length, before_commit=at_commit)
    return outcome
