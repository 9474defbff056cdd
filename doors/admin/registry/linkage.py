from django.contrib import admin

from doors.admin.admin_base import ReadOnlyAdmin
from entities.linkage.models import OpportunityContact


@admin.register(OpportunityContact)
class OpportunityContactAdmin(ReadOnlyAdmin):
    """Links are made by linkage syncs (and deleted with their opportunity or contact): read-only here."""

    list_display = ("opportunity", "contact", "sync_id", "created_at")
    list_select_related = ("opportunity", "contact")
    search_fields = ("opportunity__external_id", "contact__email")
    show_full_result_count = False
