"""One-shot CSV batch uploads: a job per accepted file, running on the shared import pipeline.

A job owns an internal import definition (`is_internal`, entity `opportunity_batch`) whose staged
rows are the file's rows in file order, and the sync that runs them. Its status and counts are
derived from that sync; `BatchRow` records which opportunity each stored input row became, so the
success file survives the staged rows being consumed.
"""

from __future__ import annotations

from django.db import models

from kernel.models import Site
from kernel.querysets import SiteScopedQuerySet
from pipeline.models import ImportDefinition


class BatchStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    PARTIAL_COMPLETE = "partialcomplete"
    FAILED = "failed"


TERMINAL = (BatchStatus.COMPLETE, BatchStatus.PARTIAL_COMPLETE, BatchStatus.FAILED)


class BatchJob(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="batch_jobs")
    # The public `jobId`; known before the job row exists (generated external ids use it).
    uuid = models.UUIDField(unique=True, editable=False)
    definition = models.OneToOneField(
        ImportDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="batch_job"
    )
    sync = models.OneToOneField(
        "syncs.Sync", on_delete=models.SET_NULL, null=True, blank=True, related_name="batch_job"
    )
    uploaded_file_name = models.CharField(max_length=255, blank=True, default="")
    row_count = models.BigIntegerField(default=0)
    byte_count = models.BigIntegerField(default=0)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    # The stages this job created because the file named them and the site had no such stage:
    # [{"id", "name"}], shown in the job's status (`createdStages`) so that a typo is visible.
    created_stages = models.JSONField(default=list, blank=True)
    # Set when the job could not be handed to the sync machinery after it was accepted.
    error_message = models.TextField(blank=True, default="")

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["site", "-created_at", "-id"], name="batchjob_site_created")]

    def __str__(self) -> str:
        return f"batch job {self.uuid}"


class BatchRow(models.Model):
    """Input row `row_number` (1-based data row) of `job` was stored as (created or updated) opportunity `opportunity_id`.

    No foreign key to the opportunity: a later delete must not block, nor rewrite the job's history
    (the success file then shows the row with an empty opportunity id)."""

    pk = models.CompositePrimaryKey("job", "row_number")
    # No FK constraint: the job is checked once per statement (migration 0005); the pk leads with it.
    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    row_number = models.BigIntegerField()
    opportunity_id = models.BigIntegerField()
    # True: the row created its opportunity; false: it updated one that had its Reference already.
    created = models.BooleanField(db_default=True)

    def __str__(self) -> str:
        return f"job {self.job_id} row {self.row_number} -> {self.opportunity_id}"


class BatchFile(models.Model):
    """Part `part` (0-based, FILE_PART_BYTES each, zlib-compressed) of the file `job` accepted, byte for byte.

    The result files repeat each input row's own cells; staged rows are gone once the sync ends, and
    workers and API nodes may be different machines, so the file is kept here, with the job."""

    pk = models.CompositePrimaryKey("job", "part")
    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="+", db_index=False)  # pk leads with it
    part = models.IntegerField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"job {self.job_id} file part {self.part}"
