from django.contrib import admin

from doors.admin.registry.kernel import SiteScopedAdmin
from entities.opportunities.models import (
    Client,
    LeadSource,
    Opportunity,
    OpportunityType,
    Owner,
    Pipeline,
    Practice,
    Project,
    Stage,
    Tag,
)


@admin.register(Stage)
class StageAdmin(SiteScopedAdmin):
    list_display = ("name", "probability", "status", "is_active", "sort_order", "site")
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


class _NamedAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "is_active", "site")
    list_filter = ("is_active", "site")
    search_fields = ("name",)
    readonly_fields = ("uuid",)


@admin.register(OpportunityType)
class OpportunityTypeAdmin(_NamedAdmin):
    pass


@admin.register(LeadSource)
class LeadSourceAdmin(_NamedAdmin):
    pass


@admin.register(Practice)
class PracticeAdmin(_NamedAdmin):
    pass


@admin.register(Client)
class ClientAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "key", "company", "site")
    list_filter = ("site",)
    search_fields = ("name", "key")
    readonly_fields = ("uuid",)
    autocomplete_fields = ("company",)


@admin.register(Project)
class ProjectAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "client", "is_active", "site")
    list_filter = ("is_active", "site")
    search_fields = ("name",)
    readonly_fields = ("uuid",)
    autocomplete_fields = ("client",)
