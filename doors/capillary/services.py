"""Writes of the Capillary door: accept a file for a series, and chain the linking to its sync's end.

Nothing here is pipeline logic of its own: staging is `pipeline.staging`, the sync is
`pipeline.services.sync_snapshot`, the stored file and result files are the batch door's
(`doors.batch.csvfiles`, `doors.batch.selectors`), linking is a linkage sync (`entities.linkage.sql`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import uuid
from dataclasses import replace

from django.db import connection, transaction
from django.utils import timezone

from doors.batch.csvfiles import batch_file_store, stored_records
from doors.batch.models import BatchJob
from entities.linkage.catalog import OPPORTUNITY_LINK
from kernel.exceptions import Failure, QuotaExceeded, ValidationFailed
from kernel.models import Site, User
from pipeline.catalog import mappings_for
from pipeline.models import ImportDefinition, Sync
from pipeline.quotas import Quota, quota_commit_check, quota_room
from pipeline.services import sync_snapshot
from pipeline.staging import staged_rows_copy_csv

from . import sql as capillary_sql
from .models import CustomerIdentifier, UploadJob
from .selectors import series_get

logger = logging.getLogger(__name__)

# The contact field each `customerIdentifier` names, as a linkage source statement.
CUSTOMER_STATEMENTS = {
    CustomerIdentifier.EMAIL: "{{Opportunity.Contact.Field(C_EmailAddress)}}",
    CustomerIdentifier.MOBILE: "{{Opportunity.Contact.Field(C_BusPhone)}}",
    CustomerIdentifier.EXTERNAL_ID: "{{Opportunity.Contact.Field(ContactIDExt)}}",
}


class UploadInvalid(ValidationFailed):
    code = "invalid_upload"
    message = "The upload is invalid; nothing was stored and no job was created."


def _header(upload) -> list[str]:
    """The file's header cells (the first line with any cell); UploadInvalid naming `file` when it
    has none or is not a readable UTF-8 CSV."""
    upload.seek(0)
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
    try:
        header = next((row for row in csv.reader(text) if row), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        reason = "CSV must be UTF-8 encoded." if isinstance(exc, UnicodeDecodeError) else f"Unreadable CSV: {exc}."
        raise UploadInvalid([Failure(field="file", constraint=reason)]) from None
    finally:
        text.detach()
    upload.seek(0)
    if not header or all(not h.strip() for h in header):
        raise UploadInvalid([Failure(field="file", constraint="The CSV must start with a header row.")])
    return header


def _stage(definition: ImportDefinition, upload):
    """The file staged for `definition` (pipeline.staging); its refusals name `file`, the form's part,
    where the staging names the request `body`."""
    upload.seek(0)
    try:
        return staged_rows_copy_csv(definition=definition, stream=upload.file, content_length=upload.size)
    except ValidationFailed as exc:
        failures = [replace(f, field="file") if f.field == "body" else f for f in exc.failures]
        raise UploadInvalid(failures) from None


def _stored_name(uploaded: str, series_id: int, now) -> str:
    """Capillary's stored file name: `couponbatchupload.csv` -> `couponbatchupload_<ms>_<series>.csv`."""
    stem, ext = os.path.splitext(os.path.basename(uploaded or "upload.csv"))
    return f"{stem[:200]}_{int(now.timestamp() * 1000)}_{series_id}{ext or '.csv'}"


def upload_job_create(
    *,
    site: Site,
    user: User,
    series_id: int,
    upload,
    customer_identifier: str,
    customer_column: str,
) -> UploadJob:
    """Stage the file for the series' sync and start it, in one transaction (a refused file stores
    nothing). 404 for a series that is not the site's opportunity import; UploadInvalid (400) naming
    `customerIdentifierColumn` when the column is not in the header, `file` when the header lacks
    the series' identifier column or the file has no data rows; the staging's own 400/413/507."""
    series = series_get(site=site, series_id=series_id)
    header = _header(upload)
    identifier_key = next(m.key for m in mappings_for(series) if m.field.column == "external_id")
    tagged = customer_identifier != CustomerIdentifier.NOT_TAGGED
    if identifier_key not in header:
        raise UploadInvalid(
            [Failure(field="file", value=",".join(header), constraint=f"The header must name the series' identifier "
                     f"column `{identifier_key}`.")]
        )  # fmt: skip
    if tagged and customer_column not in header:
        raise UploadInvalid(
            [Failure(field="customerIdentifierColumn", value=customer_column, constraint="Not a column of the file's header.")]
        )  # fmt: skip
    if tagged and customer_column == identifier_key:
        raise UploadInvalid(
            [Failure(field="customerIdentifierColumn", value=customer_column,
                     constraint="The customer column cannot be the series' identifier column.")]
        )  # fmt: skip
    now = timezone.now()
    room = quota_room(site=site, quotas=(Quota.BATCH_FILE_BYTES,))
    room.check(Quota.BATCH_FILE_BYTES, upload.size)
    with transaction.atomic(durable=True):
        # A copy of the series (same fields and rules) holds this file's rows alone, as the dry run's
        # shadow does: its sync's record indexes are the file's row numbers, and uploads to one
        # series never wait for each other's syncs.
        copy = ImportDefinition.objects.get(pk=series.pk)
        copy.pk = None
        copy.is_internal = True
        copy.is_sync_triggered_on_import = False
        copy.auto_delete_duration = copy.auto_delete_at = None  # it lives as long as its job, not the series
        copy.name = f"Capillary upload to series {series.pk}"[:100]
        copy.created_by = copy.updated_by = user.username
        copy.save()
        staged = _stage(copy, upload)
        if staged.row_count == 0:
            raise UploadInvalid([Failure(field="file", constraint="The file has a header but no data rows.")])
        link = None
        if tagged:
            link = ImportDefinition.objects.create(
                site=site,
                entity=OPPORTUNITY_LINK.entity,
                name=f"Capillary customers of series {series.pk}"[:100],
                fields=[[identifier_key, "{{Opportunity.Id}}"], [customer_column, CUSTOMER_STATEMENTS[customer_identifier]]],
                identifier_field_name=identifier_key,
                link_entity_type="Contact",
                link_match_field_name=identifier_key,
                link_source_field=customer_column,
                link_case_sensitive_match_field=series.is_identifier_field_case_sensitive,
                is_internal=True,
                created_by=user.username,
                updated_by=user.username,
            )  # fmt: skip
            _stage(link, upload)
        batch = BatchJob.objects.create(
            site=site,
            uuid=uuid.uuid4(),
            definition=copy,
            sync=sync_snapshot(definition=copy, user=user),
            uploaded_file_name=(upload.name or "")[:255],
            row_count=staged.row_count,
            byte_count=upload.size,
            created_by=user.username,
        )
        upload.seek(0)
        batch_file_store(job_id=batch.pk, stream=upload.file)
        quota_commit_check(site=site, added={Quota.BATCH_FILE_BYTES: upload.size})
        return UploadJob.objects.create(
            site=site,
            series=series,
            batch_job=batch,
            customer_identifier=customer_identifier,
            customer_column=customer_column if tagged else "",
            file_name=_stored_name(upload.name, series.pk, now),
            link_definition=link,
            user=user,
        )


# Data records per COPY of the row map (~2 MB of Python tuples); between two COPYs the stored file
# is read on the same connection.
ROW_MAP_BATCH = 20_000


def upload_job_sync_ended(sync: Sync) -> None:
    """End hook (`pipeline.processors.register_end_hook`), in the transaction that ends `sync`: when it
    is a Capillary job's opportunity sync, write the job's row map (the success file's rows) and
    start the linkage sync of the customers the file names. Runs once per sync end."""
    job = (
        UploadJob.objects.select_related("batch_job", "link_definition", "user", "series")
        .filter(batch_job__sync_id=sync.pk)
        .first()
    )
    if job is None:
        return
    _row_map_write(job, sync)
    if job.link_definition is None or job.link_sync_id is not None:
        return
    if job.user is None:
        job.link_error = "The user who uploaded the file no longer exists; customers were not linked."
    else:
        try:
            with transaction.atomic():
                job.link_sync = sync_snapshot(definition=job.link_definition, user=job.user)
        except QuotaExceeded as exc:
            job.link_error = f"Customers were not linked: {exc.failures[0].constraint}"
    if job.link_error:
        logger.warning("capillary job %s: %s", job.pk, job.link_error)
    job.save(update_fields=["link_sync", "link_error"])


def _row_map_write(job: UploadJob, sync: Sync) -> None:
    """Which opportunity each stored row became (`batches.BatchRow`), from the stored file: its
    identifier cells are COPYed in batches, then matched in one statement per batch."""
    definition = job.batch_job.definition or job.series
    if definition is None:
        return
    identifier_key = next(m.key for m in mappings_for(definition) if m.field.column == "external_id")
    header, records = stored_records(job.batch_job.pk)
    if identifier_key not in header:
        return
    at = header.index(identifier_key)
    with connection.cursor() as django_cur:
        cur = django_cur.cursor
        capillary_sql.row_map_begin(cur)
        batch: list[tuple[int, str | None]] = []
        for n, cells in records:
            batch.append((n, cells[at] if at < len(cells) else None))
            if len(batch) >= ROW_MAP_BATCH:
                capillary_sql.row_map_copy(cur, batch)
                batch = []
        if batch:
            capillary_sql.row_map_copy(cur, batch)
        capillary_sql.row_map_insert(
            cur,
            batch_job_id=job.batch_job.pk,
            site_id=job.site_id,
            sync_id=sync.pk,
            case_sensitive=definition.is_identifier_field_case_sensitive,
        )
