from django.contrib import admin

from bulkapi.admin import SiteScopedAdmin

from .models import Reject, Sync, SyncLog


@admin.register(Sync)
class SyncAdmin(SiteScopedAdmin):
    list_display = (
        "id",
        "synced_instance_uri",
        "status",
        "processed",
        "total_rows",
        "rejected",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "site")
    search_fields = ("synced_instance_uri", "created_by")
    readonly_fields = [f.name for f in Sync._meta.fields]


@admin.register(SyncLog)
class SyncLogAdmin(SiteScopedAdmin):
    site_field = "sync__site"
    list_display = ("sync", "severity", "status_code", "message", "count", "created_at")
    list_filter = ("severity", "status_code")
    readonly_fields = ("sync", "severity", "status_code", "message", "count", "created_at")


@admin.register(Reject)
class RejectAdmin(SiteScopedAdmin):
    site_field = "sync__site"
    list_display = ("sync", "record_index", "status_code", "message")
    list_filter = ("status_code",)
    readonly_fields = ("sync", "record_index", "field_values", "invalid_fields", "status_code", "message")
