"""Batch jobs: read-only records of the batch door. A job's page shows its status and counts (as
the status API derives them) and links to its error and success files."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from doors.admin import views
from doors.admin.admin_base import ReadOnlyAdmin
from doors.admin.registry.syncs import progress_bar, status_badge
from doors.batch.models import BatchJob
from doors.batch.selectors import batch_job_state, is_terminal


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = (
        "uuid",
        "uploaded_file_name",
        "status_display",
        "progress_display",
        "counts",
        "created_by",
        "created_at",
    )
    list_filter = ("site",)
    search_fields = ("uuid", "uploaded_file_name", "created_by")
    list_select_related = ("sync",)
    fields = (
        "uuid",
        "status_display",
        "progress_display",
        "counts",
        "files",
        "uploaded_file_name",
        "byte_count",
        "sync",
        "definition",
        "created_by",
        "created_at",
        "error_message",
        "site",
    )
    readonly_fields = fields

    @admin.display(description="status")
    def status_display(self, obj):
        return status_badge(batch_job_state(obj).status)

    @admin.display(description="progress")
    def progress_display(self, obj):
        return progress_bar(obj.sync) if obj.sync_id else "-"

    @admin.display(description="rows (stored / errors / in file)")
    def counts(self, obj):
        state = batch_job_state(obj)
        split = f"created {state.created:,}, updated {state.updated:,}"
        return f"{state.stored:,} ({split}) / {state.errors:,} / {obj.row_count:,}"

    @admin.display(description="files")
    def files(self, obj):
        if not is_terminal(batch_job_state(obj)):
            return "Available when the job has ended."
        return format_html(
            '<a class="button" href="{}">Error file (CSV)</a> <a class="button" href="{}">Success file (CSV)</a>',
            reverse("admin:batches_batchjob_file", args=[obj.pk, "errors"]),
            reverse("admin:batches_batchjob_file", args=[obj.pk, "successes"]),
        )

    def get_urls(self):
        return [
            path(
                "<id:job_id>/<str:kind>.csv",
                self.admin_site.admin_view(views.batch_file),
                name="batches_batchjob_file",
            ),
            *super().get_urls(),
        ]
