from django.contrib import admin

from doors.admin.registry.kernel import SiteScopedAdmin
from entities.contacts.models import Account, Contact


@admin.register(Account)
class AccountAdmin(SiteScopedAdmin):
    ordering = ("name", "id")
    list_display = ("name", "domain", "external_id", "site", "updated_at")
    list_filter = ("site",)
    search_fields = ("name", "domain", "external_id")
    readonly_fields = ("uuid", "created_at", "updated_at", "last_sync_id")
    show_full_result_count = False


@admin.register(Contact)
class ContactAdmin(SiteScopedAdmin):
    ordering = ("-id",)
    list_display = ("email", "first_name", "last_name", "phone", "account", "site", "updated_at")
    list_filter = ("site",)
    search_fields = ("email", "first_name", "last_name", "phone", "external_id", "visitor_id")
    readonly_fields = ("uuid", "created_at", "updated_at", "last_sync_id")
    list_select_related = ("account", "site")
    raw_id_fields = ("account",)
    show_full_result_count = False
