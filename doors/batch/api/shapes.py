"""The batch door's job answer, defined once (`kernel.shapes`): `BATCH_JOB` renders
`/api/v1/{site}/batch[/{job}/status]` and is the `BatchJob` component of the schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from rest_framework import serializers

from doors.batch.api.schema import FileUrlField
from doors.batch.models import BatchJob, BatchStatus
from doors.batch.selectors import batch_job_state, is_terminal
from doors.eloqua.schema import wire_time_field
from kernel.shapes import Member, Shape
from pipeline.definitions import wire_time


@dataclass(frozen=True)
class JobAnswer:
    """What one job's answer is read from: the job and its state, worked out once."""

    job: BatchJob
    state: object  # doors.batch.selectors.batch_job_state(job)
    updated: datetime
    terminal: bool


def _percent(answer: JobAnswer, request) -> float:
    rows = answer.job.row_count
    return round(100 * answer.state.processed / rows, 1) if rows else 100.0


def _file_url(name: str):
    def read(answer: JobAnswer, request) -> str | None:
        if not answer.terminal:
            return None
        job = answer.job
        return request.build_absolute_uri(reverse(name, kwargs={"site_id": job.site_id, "job_id": str(job.uuid)}))

    return read


BATCH_PROGRESS = Shape(
    "BatchProgress",
    [
        Member("processedRows", serializers.IntegerField(min_value=0), read=lambda a, r: a.state.processed),
        Member("totalRows", serializers.IntegerField(min_value=0), read=lambda a, r: a.job.row_count),
        Member("percent", serializers.FloatField(min_value=0, max_value=100), read=_percent),
    ],
)

BATCH_JOB = Shape(
    "BatchJob",
    [
        Member("jobId", serializers.UUIDField(), read=lambda a, r: str(a.job.uuid)),
        Member("status", serializers.ChoiceField(choices=BatchStatus.choices), read=lambda a, r: a.state.status),
        Member(
            "uploadedFileName",
            serializers.CharField(allow_blank=True),
            read=lambda a, r: a.job.uploaded_file_name,
        ),
        Member("createdOn", wire_time_field(), read=lambda a, r: wire_time(a.job.created_at)),
        Member("updatedOn", wire_time_field(), read=lambda a, r: wire_time(a.updated)),
        Member(
            "actualRowCount",
            serializers.IntegerField(min_value=0, help_text="Data rows in the file."),
            read=lambda a, r: a.job.row_count,
        ),
        Member(
            "totalUploadedCount",
            serializers.IntegerField(min_value=0, help_text="Rows stored: createdCount + updatedCount."),
            read=lambda a, r: a.state.stored,
        ),
        Member(
            "createdCount",
            serializers.IntegerField(
                min_value=0,
                help_text="Rows that created an opportunity (their Reference was new to the site, or absent).",
            ),
            read=lambda a, r: a.state.created,
        ),
        Member(
            "updatedCount",
            serializers.IntegerField(
                min_value=0,
                help_text="Rows that updated the opportunity the site had with their Reference (any letter case).",
            ),
            read=lambda a, r: a.state.updated,
        ),
        Member(
            "errorCount",
            serializers.IntegerField(min_value=0, help_text="Rows rejected (or never reached)."),
            read=lambda a, r: a.state.errors,
        ),
        BATCH_PROGRESS.nested("progress"),
        Member(
            "createdStages",
            serializers.ListField(
                child=serializers.DictField(),
                help_text="The stages this job created (its file named them and the site did not have them): "
                "`{id, name}` each, so a typo in PipelineStage is visible.",
            ),
            read=lambda a, r: a.job.created_stages,
        ),
        Member(
            "errorFileUrl",
            FileUrlField(help_text="The error file's URL once the job has ended, else null."),
            read=_file_url("batch-error-file"),
        ),
        Member(
            "successFileUrl",
            FileUrlField(help_text="The success file's URL once the job has ended, else null."),
            read=_file_url("batch-success-file"),
        ),
    ],
)


def job_answer(job: BatchJob) -> JobAnswer:
    state = batch_job_state(job)
    sync = job.sync
    updated = max(t for t in (job.created_at, sync and sync.heartbeat_at, sync and sync.sync_ended_at) if t)
    return JobAnswer(job=job, state=state, updated=updated, terminal=is_terminal(state))


def render_job(request, job: BatchJob) -> dict:
    """A job as the batch door answers it (`request` makes the file URLs absolute)."""
    return BATCH_JOB.render(job_answer(job), request)
