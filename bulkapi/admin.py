"""Admin: every model, scoped to the staff user's site unless superuser."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, Currency, CustomField, ImportDefinition, Site, StagedUpload, User


class SiteScopedAdmin(admin.ModelAdmin):
    """Staff see and edit only their own site's rows; new rows get their site."""

    site_field = "site"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{self.site_field: request.user.site_id})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and self.site_field == "site":
            fields.append("site")
        return fields

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.site_field == "site" and not change:
            obj.site_id = request.user.site_id
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        model = db_field.related_model
        if not request.user.is_superuser and hasattr(model.objects, "for_site") and model is not Site:
            field.queryset = model.objects.for_site(request.user.site)
        return field


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin):
    site_field = "pk"
    list_display = ("id", "name", "default_currency", "default_stage", "created_at")
    list_select_related = ("default_stage",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "default_stage":  # only the edited site's own stages
            object_id = str((request.resolver_match.kwargs if request.resolver_match else {}).get("object_id", ""))
            field.queryset = db_field.related_model.objects.filter(site_id=int(object_id) if object_id.isdigit() else 0)
        return field


@admin.register(User)
class UserAdmin(BaseUserAdmin, SiteScopedAdmin):
    list_display = ("username", "site", "email", "is_staff", "is_active", "last_login")
    list_filter = ("site", "is_staff", "is_active")
    search_fields = ("username", "email", "site__name")
    fieldsets = ((None, {"fields": ("site",)}),) + BaseUserAdmin.fieldsets
    add_fieldsets = ((None, {"fields": ("site", "username", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")


@admin.register(ApiToken)
class ApiTokenAdmin(SiteScopedAdmin):
    site_field = "user__site"
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(CustomField)
class CustomFieldAdmin(SiteScopedAdmin):
    list_display = ("internal_name", "name", "entity", "data_type", "site")
    list_filter = ("entity", "data_type")
    search_fields = ("name", "internal_name")
    readonly_fields = ("created_at", "updated_at")


@admin.register(ImportDefinition)
class ImportDefinitionAdmin(SiteScopedAdmin):
    list_display = ("id", "name", "entity", "site", "identifier_field_name", "created_by", "created_at")
    list_filter = ("entity", "site")
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at", "updated_by", "updated_at")


@admin.register(StagedUpload)
class StagedUploadAdmin(SiteScopedAdmin):
    site_field = "definition__site"
    list_display = ("id", "definition", "content_type", "row_count", "byte_count", "sync", "created_at")
    list_filter = ("content_type",)
    readonly_fields = [f.name for f in StagedUpload._meta.fields]
