from django.contrib import admin

from bulkapi.admin import SiteScopedAdmin

from .models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(SiteScopedAdmin):
    list_display = ("uuid", "site", "uploaded_file_name", "row_count", "sync", "created_by", "created_at")
    list_filter = ("site",)
    search_fields = ("uuid", "uploaded_file_name", "created_by")
    readonly_fields = [f.name for f in BatchJob._meta.fields]
