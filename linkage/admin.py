from django.contrib import admin

from bulkapi.admin import SiteScopedAdmin

from .models import OpportunityContact


@admin.register(OpportunityContact)
class OpportunityContactAdmin(SiteScopedAdmin):
    list_display = ("opportunity", "contact", "sync", "created_at")
    raw_id_fields = ("opportunity", "contact")
    readonly_fields = ("created_at", "sync")
