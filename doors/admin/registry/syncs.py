"""Syncs, their logs and rejects: read-only records of the pipeline. A sync's page shows its
definition, progress (bar, rows/s, ETA), timings, logs and rejects (paged, downloadable as CSV),
with Cancel and Retry buttons that call the sync services."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from doors.admin import views
from doors.admin.admin_base import ReadOnlyAdmin
from doors.admin.selectors import REJECTS_PAGE, sync_rejects_page
from pipeline.models import TERMINAL, Reject, Sync, SyncLog, SyncStatus
from pipeline.selectors import sync_progress

INTERNALS = ("upto_id", "range_ends", "range_rows", "first_range_rows", "lanes", "lane_bounds", "dense")


def status_badge(status: str) -> str:
    return format_html('<span class="bo-badge bo-{}">{}</span>', status, status)


def progress_bar(sync: Sync) -> str:
    p = sync_progress(sync)
    return format_html(
        '<div class="bo-progress" data-sync-progress="{}" data-status="{}" title="{} of {} rows">'
        '<div class="bo-bar" style="width: {}%"></div><span class="bo-label">{}%</span></div>',
        sync.pk,
        sync.status,
        p.processed,
        p.total,
        p.percent,
        p.percent,
    )


@admin.register(Sync)
class SyncAdmin(ReadOnlyAdmin):
    list_display = ("id", "definition", "status_display", "progress_display", "rows_text", "created_by", "created_at")
    list_display_links = ("id", "definition")
    list_filter = ("status", "site")
    search_fields = ("synced_instance_uri", "created_by", "definition__name")
    list_select_related = ("definition",)
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "definition",
                    "synced_instance_uri",
                    "status",
                    "created_by",
                    "callback_url",
                    "error_message",
                    "cancelled_by",
                    "retry_of",
                ]
            },
        ),
        ("Timings", {"fields": ["created_at", "sync_started_at", "sync_ended_at", "heartbeat_at"]}),
        ("Rows", {"fields": ["total_rows", "processed", "created_count", "updated_count", "rejected"]}),
        ("Internals", {"classes": ["collapse"], "fields": ["site", "extra_counts", *INTERNALS]}),
    ]
    readonly_fields = [f.name for f in Sync._meta.fields]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj.status)

    @admin.display(description="progress")
    def progress_display(self, obj):
        return progress_bar(obj)

    @admin.display(description="rows (stored / rejected / total)")
    def rows_text(self, obj):
        return f"{obj.processed - obj.rejected:,} / {obj.rejected:,} / {obj.total_rows:,}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("progress/", wrap(views.sync_progress_json), name="syncs_sync_progress"),
            path("<id:sync_id>/rejects.csv", wrap(views.sync_rejects_csv), name="syncs_sync_rejects_csv"),
            path("<id:sync_id>/cancel/", wrap(views.sync_cancel_view), name="syncs_sync_cancel"),
            path("<id:sync_id>/retry/", wrap(views.sync_retry_view), name="syncs_sync_retry"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        sync = self.get_object(request, object_id) if str(object_id).isdigit() else None
        extra = dict(extra_context or {})
        if sync is not None:
            after = request.GET.get("after", "0")
            after = int(after) if after.isdigit() and len(after) < 19 else 0
            rejects = sync_rejects_page(sync=sync, after=after)
            user = request.user
            extra.update(
                progress=sync_progress(sync),
                status_badge=status_badge(sync.status),
                progress_bar=progress_bar(sync),
                logs=SyncLog.objects.filter(sync=sync).order_by("id"),
                rejects=rejects,
                rejects_after=after,
                rejects_next=rejects[-1].record_index if len(rejects) == REJECTS_PAGE else None,
                can_cancel=sync.status not in TERMINAL and user.has_perm("syncs.change_sync"),
                can_retry=sync.status == SyncStatus.ERROR
                and not hasattr(sync, "retried_by")
                and user.has_perms(["syncs.change_sync", "syncs.add_sync"]),
                rejects_csv=reverse("admin:syncs_sync_rejects_csv", args=[sync.pk]),
                batch_job=getattr(sync, "batch_job", None) if hasattr(sync, "batch_job") else None,
            )
        return super().change_view(request, object_id, form_url, extra)


@admin.register(SyncLog)
class SyncLogAdmin(ReadOnlyAdmin):
    site_field = "sync__site"
    list_display = ("sync", "severity", "status_code", "message", "count", "created_at")
    list_filter = ("severity", "status_code")
    search_fields = ("=sync__id", "status_code")
    readonly_fields = ("sync", "severity", "status_code", "message", "count", "created_at")
    show_full_result_count = False


@admin.register(Reject)
class RejectAdmin(ReadOnlyAdmin):
    site_field = "sync__site"
    list_display = ("sync", "record_index", "status_code", "message", "invalid_fields", "field_values")
    list_filter = ("status_code",)
    search_fields = ("=sync__id", "status_code")
    readonly_fields = ("sync", "record_index", "field_values", "invalid_fields", "status_code", "message")
    show_full_result_count = False
