"""Writes of the batch door: accept a CSV (validate it whole, stage it, start its sync)."""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from collections.abc import Callable

import environ
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from doors.batch import sql as batch_sql
from doors.batch.csvfiles import batch_file_store
from doors.batch.models import BatchJob
from doors.batch.processor import OPPORTUNITY_BATCH
from doors.batch.validation import MAX_ERRORS, ErrorSink, FileError, HeaderErrors, ScanResult, scan
from entities.opportunities.models import Stage, StageStatus
from kernel.exceptions import Failure, PayloadTooLarge, ValidationFailed
from kernel.models import Site, User
from pipeline.models import ImportDefinition, ImportRule, StagedUpload, UpdateRule
from pipeline.quotas import BATCH_UPLOAD, Quota, quota_commit_check, quota_room
from pipeline.services import sync_snapshot

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
# One encoder for every staged row (`json.dumps` with options builds a new one per call).
_json = json.JSONEncoder(separators=(",", ":")).encode

# The internal definition every batch job gets: the batch columns as opportunity statements.
# Reference -> {{Opportunity.Id}} (a generated `batch-<jobId>-<row>` when the row has none);
# Name is the Reference, or "<PipelineStage> <OpportunityValue> <CurrencyCode>" without one.
DEFINITION_FIELDS = [
    ["Reference", "{{Opportunity.Id}}"],
    ["Name", "{{Opportunity.Field(Name)}}"],
    ["OpportunityValue", "{{Opportunity.Field(Amount)}}"],
    ["CurrencyCode", "{{Opportunity.Field(Currency)}}"],
    ["PipelineStage", "{{Opportunity.Field(Stage)}}"],
    ["SalesforceId", "{{Opportunity.Field(SalesforceId)}}"],
    ["HubspotId", "{{Opportunity.Field(HubspotId)}}"],
]


# On update every column takes the row's value, but the name: the opportunity keeps the one it has
# (a batch row's name is only its Reference, or a made-up "<stage> <value> <currency>").
# The external ids are optional columns: a row without one keeps the id the opportunity has.
UPDATE_RULES = {
    key: UpdateRule.IF_EXISTING_IS_NULL
    if key == "Name"
    else UpdateRule.IF_NEW_IS_NOT_NULL
    if key in ("SalesforceId", "HubspotId")
    else UpdateRule.ALWAYS
    for key, _ in DEFINITION_FIELDS
}


def max_upload_bytes() -> int:
    """BATCH_MAX_UPLOAD_BYTES: a Django setting (tests override it) or the environment."""
    value = getattr(settings, "BATCH_MAX_UPLOAD_BYTES", None)
    if value is None:
        value = environ.Env().int("BATCH_MAX_UPLOAD_BYTES", default=DEFAULT_MAX_UPLOAD_BYTES)
    return value


def too_large(size: int) -> PayloadTooLarge:
    limit = max_upload_bytes()
    return PayloadTooLarge(
        [Failure(field="file", value=str(size), constraint=f"The file exceeds the limit of {limit} bytes.")],
        message="The file is too large.",
    )


class BatchInvalid(ValidationFailed):
    """The file was refused; `total` counts every row error, `failures` lists the first ones."""

    code = "invalid_batch"
    message = "The file is invalid; nothing was stored and no job was created."

    def __init__(self, failures: list[Failure], total: int | None = None):
        super().__init__(failures)
        self.total = len(failures) if total is None else total


def batch_job_create(
    *, site: Site, user: User, upload, before_commit: Callable[[BatchJob], None] | None = None
) -> BatchJob:
    """Validate the whole uploaded CSV, then (only if every row is valid) create the job, its internal
    definition and staged rows in one transaction, and start the sync. Raises BatchInvalid (400),
    PayloadTooLarge (413) or QuotaExceeded (413, 507: the site's staging, batch file or rejects
    quota); then nothing is stored.

    One streaming pass: each row is validated in Python and COPYed into staging as it is read; the
    cross-row checks run in SQL on the staged rows; any error rolls the whole transaction back.
    """
    if upload.size > max_upload_bytes():
        raise too_large(upload.size)
    room = quota_room(site=site, quotas=BATCH_UPLOAD)
    room.check(Quota.BATCH_FILE_BYTES, upload.size)
    room.check(Quota.STAGED_BYTES, upload.size)
    job_uuid = uuid.uuid4()
    now = timezone.now()
    sink = ErrorSink(cap=MAX_ERRORS)
    result = ScanResult()
    upload.seek(0)
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
    try:
        with transaction.atomic(durable=True):
            definition = ImportDefinition.objects.create(
                site=site,
                entity=OPPORTUNITY_BATCH.entity,
                name=f"Batch upload {job_uuid}",
                fields=DEFINITION_FIELDS,
                identifier_field_name="Reference",
                # Ruler's store endpoint "stores or updates" by Reference: a known Reference (any
                # letter case) updates that opportunity, keeping its name; a new one creates it.
                import_rule=ImportRule.CREATE_AND_UPDATE,
                update_rule=UpdateRule.USE_FIELD_RULE,
                update_rule_by_field=UPDATE_RULES,
                is_internal=True,
                created_by=user.username,
                updated_by=user.username,
            )
            staged = StagedUpload.objects.create(
                definition=definition, content_type="text/csv", columns=[k for k, _ in DEFINITION_FIELDS]
            )
            try:
                rows = csv.reader(text)
                with connection.cursor() as django_cur:
                    cur = django_cur.cursor
                    with cur.copy("COPY bulkapi_stagedrow (definition_id, upload_id, data) FROM STDIN") as copy:
                        for data in scan(
                            rows,
                            now=now,
                            sink=sink,
                            job_id=str(job_uuid),
                            result=result,
                            phone_region=site.phone_region,
                        ):
                            copy.write_row((definition.pk, staged.pk, _json(data)))
                    room.check(Quota.STAGED_ROWS, result.rows)
                    if result.rows == 0 and not sink.total:
                        raise BatchInvalid(
                            [Failure(field="file", constraint="The file has a header but no data rows.")]
                        )
                    conflicts, total = batch_sql.validation_conflicts(cur, definition_id=definition.pk, cap=MAX_ERRORS)
            except FileError as exc:
                raise BatchInvalid([exc.failure]) from None
            except HeaderErrors as exc:
                raise BatchInvalid(exc.failures) from None
            sink.merge(conflicts, total)
            if sink.total:
                raise BatchInvalid(sink.failures, sink.total)
            created_stages = _stages_create(site=site, names=result.stages)
            StagedUpload.objects.filter(pk=staged.pk).update(row_count=result.rows, byte_count=upload.size)
            # The sync is made in the same transaction: an accepted job always has its sync, and
            # the worker is handed it only once everything is committed.
            job = BatchJob.objects.create(
                site=site,
                uuid=job_uuid,
                definition=definition,
                sync=sync_snapshot(definition=definition, user=user),
                uploaded_file_name=(upload.name or "")[:255],
                created_stages=created_stages,
                row_count=result.rows,
                byte_count=upload.size,
                created_by=user.username,
            )
            quota_commit_check(
                site=site,
                added={
                    Quota.STAGED_ROWS: result.rows,
                    Quota.STAGED_BYTES: upload.size,
                    Quota.BATCH_FILE_BYTES: upload.size,
                },
            )
            # The file itself, for the result files' original cells (a second read of the spooled
            # upload, after every check passed: a refused file costs nothing here).
            upload.seek(0)
            batch_file_store(job_id=job.pk, stream=upload.file)
            if before_commit is not None:
                before_commit(job)
    finally:
        text.detach()
    return job


def _stages_create(*, site: Site, names: dict[str, str]) -> list[dict]:
    """Stages the file names that the site does not have yet: created open, at the end of the list,
    with no probability (null) until someone sets one, so a misspelt stage never becomes the
    lowest-probability stage new opportunities default to (`entities.opportunities.selectors.stage_default`).
    Returns the ones this job created ({id, name}, in file order): a stage another upload created
    meanwhile is not counted as this job's."""
    existing = {n.lower() for n in Stage.objects.for_site(site).values_list("name", flat=True)}
    new = [name for key, name in names.items() if key not in existing]
    if not new:
        return []
    last = Stage.objects.for_site(site).order_by("-sort_order").values_list("sort_order", flat=True).first() or 0
    with connection.cursor() as cur:
        # Within the column (a stage may already sit at its maximum sort order): never an overflow.
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (site_id, name, status, probability, sort_order)"
                " SELECT %s, t.name, %s, NULL, LEAST(%s + 10 * t.n, 2147483647) FROM unnest(%s::text[]) WITH ORDINALITY AS t(name, n)"
                " ORDER BY t.n ON CONFLICT DO NOTHING RETURNING id, name"
            ).format(sql.Identifier(Stage._meta.db_table)),
            [site.pk, StageStatus.OPEN, last, new],
        )
        created = {name: pk for pk, name in cur.fetchall()}
    return [{"id": created[name], "name": name} for name in new if name in created]


def batch_file_bytes_usage() -> sql.Composable:
    """The site's stored batch files, for the BATCH_FILE_BYTES quota (pipeline.quotas)."""
    return sql.SQL("(SELECT coalesce(sum(byte_count), 0) FROM {} WHERE site_id = %(site)s)").format(
        sql.Identifier(BatchJob._meta.db_table)
    )


def batch_jobs_purge_with_syncs(sync_ids: list[int]) -> int:
    """History hook (`pipeline.processors.register_history_hook`), in the transaction that deletes
    the ended syncs `sync_ids`: their batch jobs go with them, with the stored file, the row map,
    a Capillary job made on them and the internal definition. A job's status is its sync's: kept
    without it, the job would read as pending. Returns how many jobs went."""
    from pipeline.models import ImportDefinition

    jobs = list(BatchJob.objects.filter(sync_id__in=sync_ids).values_list("pk", "definition_id"))
    if not jobs:
        return 0
    BatchJob.objects.filter(pk__in=[pk for pk, _ in jobs]).delete()
    ImportDefinition.objects.filter(pk__in=[d for _, d in jobs if d], is_internal=True).delete()
    return len(jobs)
