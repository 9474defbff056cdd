from django.contrib import admin

from doors.admin.registry.kernel import SiteScopedAdmin
from entities.opportunities.models import Opportunity, Owner, Pipeline, Stage, Tag


@admin.register(Stage)
class StageAdmin(SiteScopedAdmin):
    list_display = ("name", "probability", "status", "sort_order", "site")
    list_filter = ("status", "site")
    search_fields = ("name",)
    list_select_related = ("site",)


@admin.register(Opportunity)
class OpportunityAdmin(SiteScopedAdmin):
    ordering = ("-id",)
    list_display = ("external_id", "name", "amount", "currency", "stage", "close_date", "site", "updated_at")
    list_filter = ("stage__status", "currency", "site")
    search_fields = ("external_id", "name", "account_name")
    readonly_fields = ("uuid", "created_at", "updated_at", "last_sync_id")
    list_select_related = ("stage", "site")
    # Pickers that stay usable with thousands of accounts; each searches only what the user may see.
    autocomplete_fields = ("company", "owner", "tags")
    show_full_result_count = False  # one count per page, not two, on a large table


@admin.register(Pipeline)
class PipelineAdmin(SiteScopedAdmin):
    ordering = ("label", "id")
    list_display = ("label", "external_id", "site")
    list_filter = ("site",)
    search_fields = ("label", "external_id")


@admin.register(Owner)
class OwnerAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "email", "external_id", "site")
    list_filter = ("site",)
    search_fields = ("name", "email", "external_id")


@admin.register(Tag)
class TagAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "site")
    list_filter = ("site",)
    search_fields = ("name",)
