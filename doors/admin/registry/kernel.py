"""Admin of sites, users, tokens, currencies, custom fields, import definitions and staged uploads.

Every admin is site-scoped (`doors.admin.admin_base.SiteScopedAdmin`); writes with rules go through
the same services as the API (definitions, tokens), and nobody but a superuser grants staff,
superuser status, groups or permissions, or sees OAuth clients and their tokens.
"""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from doors.admin.admin_base import JsonObjectField, ReadOnlyAdmin, SiteScopedAdmin
from doors.admin.forms import UserPasswordForm
from entities.linkage.catalog import OPPORTUNITY_LINK
from kernel.exceptions import Conflict, ValidationFailed
from kernel.models import ApiToken, Currency, Site, User
from kernel.services import api_token_create, api_token_revoke
from pipeline.catalog import (
    custom_field_name_problem,
    custom_field_statement,
    entity_spec,
    entity_specs,
    validate_custom_field_name,
)
from pipeline.definitions import validate_definition
from pipeline.models import CustomField, ImportDefinition, ImportRule, StagedRow, StagedUpload, UpdateRule
from pipeline.quotas import Quota, quota_limits, site_usage
from pipeline.services.imports import (
    RUNNING_SYNC,
    definition_has_running_sync,
    import_definition_create,
    import_definition_delete,
    import_definition_update,
)

__all__ = ["SiteScopedAdmin"]  # re-exported: other apps' admins import it from here


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Global records (currencies, groups): everyone with the permission may look, only superusers write."""

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


QUOTA_FIELDS = ("quota_staged_rows", "quota_staged_bytes", "quota_batch_file_bytes", "quota_rejects")


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin):
    site_field = "pk"
    list_display = ("id", "name", "default_currency", "phone_region", "default_stage", "created_at")
    list_select_related = ("default_stage",)
    search_fields = ("name",)
    readonly_fields = ("created_at", "storage_use")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += QUOTA_FIELDS  # a site's staff never raise their own quotas
        return fields

    @admin.display(description="storage use (used / limit)")
    def storage_use(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        usage, limits = site_usage(obj.pk), quota_limits(obj)
        return format_html_join(
            mark_safe("<br>"),
            "{}: {} / {}",
            ((q.value, f"{usage.of(q):,}", f"{limits[q]:,}" if limits[q] else "no limit") for q in Quota),
        )

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "default_stage":  # only the edited site's own stages
            object_id = str((request.resolver_match.kwargs if request.resolver_match else {}).get("object_id", ""))
            field.queryset = db_field.related_model.objects.filter(site_id=int(object_id) if object_id.isdigit() else 0)
        return field


class SiteUserCreationForm(AdminUserCreationForm):
    """User names are unique per site (any letter case), not globally: check within the site."""

    def clean_username(self):
        username = self.cleaned_data.get("username")
        site = self.cleaned_data.get("site") if "site" in self.cleaned_data else self.instance.site
        taken = User.objects.annotate(lname=Lower("username")).filter(lname=(username or "").lower())
        taken = taken.filter(site=site) if site is not None else taken.filter(site__isnull=True)
        if username and taken.exists():
            raise ValidationError("A user with that user name already exists on this site.")
        return username


PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(BaseUserAdmin, SiteScopedAdmin):
    list_display = ("username", "site", "email", "is_staff", "is_active", "last_login")
    list_filter = ("site", "is_staff", "is_active", "groups")
    search_fields = ("username", "email", "site__name")
    fieldsets = ((None, {"fields": ("site",)}),) + BaseUserAdmin.fieldsets
    add_fieldsets = (
        (None, {"fields": ("site", "username", "usable_password", "password1", "password2")}),
        ("Permissions", {"fields": ("is_staff", "groups")}),
    )
    add_form = SiteUserCreationForm
    change_password_form = UserPasswordForm  # a new password ends the user's OAuth tokens
    readonly_fields = ("last_login", "date_joined")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not request.user.is_superuser:
            qs = qs.filter(is_superuser=False)  # a superuser's account is out of a staff user's reach
        return qs

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Only a superuser grants staff, superuser status, groups or permissions (to anyone,
            # themselves included).
            fields += [f for f in PRIVILEGES if f not in fields]
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not request.user.is_superuser:
            fieldsets = fieldsets[:1]  # a staff user's new user is an ordinary (API) user
        return fieldsets

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is not None and not request.user.is_superuser:
            # Another staff account may hold more than the editor does: changing its password or
            # details would hand that over. Staff edit ordinary users and themselves.
            return not obj.is_staff or obj.pk == request.user.pk
        return True

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        return request.user.is_superuser or obj is None or not obj.is_staff


class SuperuserAdmin(SuperuserOnlyAdmin):
    """Records only superusers see at all, whatever permissions a staff user was given."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_module_permission(self, request):
        return request.user.is_superuser


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserAdmin, BaseGroupAdmin):
    """Groups carry permissions: granting them is a superuser's job."""


def _superusers_only(model) -> None:
    """Re-register an installed app's admin of `model` for superusers only."""
    current = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    # No "View on site": django-oauth-toolkit's own pages (`get_absolute_url`) are not routed here.
    admin.site.register(model, type(current.__name__, (SuperuserAdmin, current), {"view_on_site": False}))


# OAuth clients and their access/refresh tokens, grants and ID tokens are other users' credentials,
# and django-oauth-toolkit's admins are not site-scoped: superusers only.
for _model in (
    get_application_model(),
    get_access_token_model(),
    get_refresh_token_model(),
    get_grant_model(),
    get_id_token_model(),
):
    if admin.site.is_registered(_model):
        _superusers_only(_model)


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(SiteScopedAdmin):
    """A superuser issues, sees and revokes every user's tokens; anyone else only their own
    (`api_token_may_manage`): the list, the add form's user choices and the save all say so."""

    site_field = "user__site"
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user__site",)
    actions = ["revoke"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user_id=request.user.pk)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and not request.user.is_superuser:
            field.queryset = field.queryset.filter(pk=request.user.pk)
        return field

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if not request.user.is_superuser:
            initial["user"] = request.user.pk
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Issued by the service, like `createsite --token`: only its hash is stored, so the raw
        # value is shown this once.
        token, raw, _ = api_token_create(
            user=form.cleaned_data["user"], name=form.cleaned_data["name"], by=request.user
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        obj._state.adding = False
        self.message_user(
            request, f"The new token is {raw} . Copy it now: it is stored only as a hash.", messages.WARNING
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token, by=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(Currency)
class CurrencyAdmin(SuperuserOnlyAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class CustomFieldForm(forms.ModelForm):
    """The internal name must be one a statement can name (`validate_custom_field_name`)."""

    class Meta:
        model = CustomField
        fields = ("site", "entity", "name", "internal_name", "data_type", "max_length")

    def clean(self):
        data = super().clean()
        entity = data.get("entity") or self.instance.entity
        name = data.get("internal_name")
        if entity and name:
            try:
                validate_custom_field_name(entity=entity, internal_name=name)
            except ValidationFailed as exc:
                for failure in exc.failures:
                    self.add_error("internal_name", failure.constraint)
        return data


@admin.register(CustomField)
class CustomFieldAdmin(SiteScopedAdmin):
    form = CustomFieldForm
    list_display = ("internal_name", "name", "entity", "data_type", "statement", "site")
    list_filter = ("entity", "data_type", "site")
    search_fields = ("name", "internal_name")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="statement")
    def statement(self, obj):
        """Its statement; a field stored before names were checked, which imports leave out (it
        could never be mapped), says why instead."""
        spec = entity_spec(obj.entity)
        problem = custom_field_name_problem(spec, obj.internal_name)
        if problem is not None:
            return format_html('<span class="bo-bad" title="{}">Not importable: rename it</span>', problem)
        return custom_field_statement(spec, obj.internal_name)


# --------------------------------------------------------------------------- import definitions

# Form field -> wire property of `POST .../imports` (what `validate_definition` reads).
WIRE = {
    "name": "name",
    "fields": "fields",
    "identifier_field_name": "identifierFieldName",
    "is_identifier_field_case_sensitive": "isIdentifierFieldCaseSensitive",
    "update_rule": "updateRule",
    "update_rule_by_field": "updateRuleByField",
    "import_rule": "importRule",
    "is_sync_triggered_on_import": "isSyncTriggeredOnImport",
    "is_updating_multiple_matched_records": "isUpdatingMultipleMatchedRecords",
    "data_retention_duration": "dataRetentionDuration",
    "auto_delete_duration": "autoDeleteDuration",
    "import_priority_uri": "importPriorityUri",
    "external_system_id": "externalSystemId",
    "link_entity_type": "linkOpportunitiesEntityType",
    "link_match_field_name": "linkOpportunitiesMatchFieldName",
    "link_source_field": "linkOpportunitiesSourceField",
    "link_case_sensitive_match_field": "linkOpportunitiesCaseSensitiveMatchField",
    "link_case_sensitive_source_field": "linkOpportunitiesCaseSensitiveSourceField",
    "link_multiple_source_matches": "linkOpportunitiesMultipleSourceMatches",
}
FORM_FIELD = {wire: name for name, wire in WIRE.items()}
LINK_FIELDS = [name for name in WIRE if name.startswith("link_")]


# The entities a Bulk API client (and so the admin) makes definitions of: not another door's internal
# ones. Read when a form is made (the admin registers before the entities do).
def public_entities() -> list[tuple[str, str]]:
    return [(spec.entity, spec.label) for spec in entity_specs() if spec.bulk_routed]


class ImportDefinitionForm(forms.ModelForm):
    """The definition's wire properties, validated exactly as `POST/PUT .../imports` validates them
    (`pipeline.definitions.validate_definition`); the admin then saves through the same services."""

    entity = forms.ChoiceField(choices=public_entities)
    fields = JsonObjectField(
        help_text='Your column names mapped to field statements, e.g. {"OpportunityID": "{{Opportunity.Id}}", '
        '"Amount": "{{Opportunity.Field(Amount)}}"}.',
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"}),
    )
    update_rule = forms.ChoiceField(choices=[("", "(default: always)"), *UpdateRule.choices], required=False)
    update_rule_by_field = JsonObjectField(
        required=False, help_text='With update rule "useFieldRule": {"column": "ifNewIsNotNull", ...}.'
    )
    import_rule = forms.ChoiceField(choices=[("", "(default: createAndUpdate)"), *ImportRule.choices], required=False)
    link_entity_type = forms.ChoiceField(
        choices=[("", "(from the source field)"), ("Contact", "Contact"), ("Account", "Account")], required=False
    )

    class Meta:
        model = ImportDefinition
        fields = ("site", "entity", "name", "fields", "identifier_field_name", *list(WIRE)[3:])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["fields"] = dict(self.instance.fields or [])
        self.wire_body: dict | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        site = data.get("site") if "site" in data else getattr(self.instance, "site", None)
        entity = data.get("entity") or self.instance.entity
        if site is None:
            self.add_error("site" if "site" in self.fields else None, "Pick the site this import belongs to.")
            return data
        body = {}
        for name, wire in WIRE.items():
            if name not in data:
                continue
            value = data[name]
            if value in ("", None):
                continue
            body[wire] = value
        if self.instance.pk and definition_has_running_sync(self.instance):
            self.add_error(None, f"{RUNNING_SYNC} Change the import once the sync has ended.")
            return data
        try:
            validate_definition(site=site, entity=entity, body=body)
        except ValidationFailed as exc:
            for failure in exc.failures:
                field = FORM_FIELD.get((failure.field or "").split(".")[0])
                where = failure.field or ""
                text = failure.constraint + (f" ({where}: {failure.value})" if failure.value is not None else "")
                self.add_error(field if field in self.fields else None, text)
            return data
        self.wire_body = body
        return data


@admin.register(ImportDefinition)
class ImportDefinitionAdmin(SiteScopedAdmin):
    form = ImportDefinitionForm
    list_display = ("id", "name", "entity", "site", "identifier_field_name", "staged", "created_by", "created_at")
    list_filter = ("entity", "is_internal", "site")
    search_fields = ("name",)
    readonly_fields = ("uri_text", "created_by", "created_at", "updated_by", "updated_at", "staged_rows")

    def get_queryset(self, request):
        waiting = Count("uploads", filter=Q(uploads__sync__isnull=True))
        return super().get_queryset(request).select_related("site").annotate(waiting_uploads=waiting)

    def get_fieldsets(self, request, obj=None):
        entity = obj.entity if obj is not None else None
        main = ["site", "entity", "name", "fields", "identifier_field_name"]
        rules = [
            "is_identifier_field_case_sensitive",
            "update_rule",
            "update_rule_by_field",
            "import_rule",
            "is_updating_multiple_matched_records",
            "is_sync_triggered_on_import",
            "data_retention_duration",
            "auto_delete_duration",
            "import_priority_uri",
            "external_system_id",
        ]
        sets = [(None, {"fields": main})]
        if entity in (None, OPPORTUNITY_LINK.entity):
            sets.append(
                (
                    "Linkage (opportunity-contact imports only)",
                    {"fields": LINK_FIELDS, "classes": ["collapse"] if entity is None else []},
                )
            )
        sets.append(("Rules", {"fields": rules}))
        if obj is not None:
            sets.append(
                (
                    "Record",
                    {"fields": ["uri_text", "staged_rows", "created_by", "created_at", "updated_by", "updated_at"]},
                )
            )
        return sets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["site", "entity"]  # a definition keeps its site and entity, as on the wire
        return fields

    def has_change_permission(self, request, obj=None):
        # Internal definitions (a batch job's, an admin import's draft) belong to their door.
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_internal)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_internal)

    @admin.display(description="URI")
    def uri_text(self, obj):
        return obj.uri

    @admin.display(description="Staged rows")
    def staged_rows(self, obj):
        count = StagedRow.objects.filter(definition_id=obj.pk).count()
        return format_html(
            '{} &nbsp; <a class="button" href="{}?definition={}">Import a CSV file into it</a>',
            count,
            reverse("admin:backoffice_import"),
            obj.pk,
        )

    @admin.display(description="uploads waiting for a sync")
    def staged(self, obj):
        return getattr(obj, "waiting_uploads", 0) or ""

    def save_model(self, request, obj, form, change):
        body = form.wire_body
        if change:
            import_definition_update(definition=obj, user=request.user, body=body)
            return
        site = form.cleaned_data.get("site") or request.user.site
        created = import_definition_create(site=site, user=request.user, entity=form.cleaned_data["entity"], body=body)
        obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False

    # Deleting goes through `import_definition_delete`: refused while a sync of the definition is
    # pending or active (an error message, never a 500), and its staged rows go with it.

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            # Same name, so Django's confirmation page posts back to it.
            actions["delete_selected"] = (
                type(self).delete_through_service,
                "delete_selected",
                "Delete selected import definitions",
            )
        return actions

    def get_urls(self):
        from doors.admin import views

        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(views.import_start), name="backoffice_import"),
            path("import/<id:draft_id>/", wrap(views.import_review), name="backoffice_import_review"),
            path("import/<id:draft_id>/discard/", wrap(views.import_discard), name="backoffice_import_discard"),
            path(
                "<path:object_id>/delete/",
                self.admin_site.admin_view(self.delete_through_service_view),
                name="bulkapi_importdefinition_delete",
            ),
            *super().get_urls(),
        ]

    def delete_through_service_view(self, request, object_id, extra_context=None):
        if request.method != "POST":
            return self.delete_view(request, object_id, extra_context)
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_delete_permission(request, obj):
            return self.delete_view(request, object_id, extra_context)  # Django's 404/403 handling
        if self.get_deleted_objects([obj], request)[3]:
            return self.delete_view(request, object_id, extra_context)  # protected: Django's page says why
        logged = copy.copy(obj)
        try:
            import_definition_delete(definition=obj)
        except Conflict as exc:
            reason = "; ".join(f.constraint for f in exc.failures) or "refused"
            self.message_user(request, f"“{obj}” was not deleted: {reason}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:bulkapi_importdefinition_change", args=[obj.pk]))
        self.log_deletions(request, [logged])
        self.message_user(request, f"“{logged}” was deleted, with its staged rows.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:bulkapi_importdefinition_changelist"))

    def delete_through_service(self, request, queryset):
        if not request.POST.get("post") or self.get_deleted_objects(queryset, request)[3]:
            return delete_selected(self, request, queryset)  # Django's confirmation page (or why not)
        deleted, refused = [], []
        for definition in queryset:
            if definition.is_internal:
                refused.append(f"{definition} (internal)")
                continue
            logged = copy.copy(definition)
            try:
                import_definition_delete(definition=definition)
            except Conflict:
                refused.append(f"{definition} (a sync of it is pending or active)")
                continue
            self.log_deletions(request, [logged])
            deleted.append(logged)
        if deleted:
            self.message_user(request, f"Deleted {len(deleted)} import definition(s), with their staged rows.")
        if refused:
            self.message_user(request, "Not deleted: " + "; ".join(refused), messages.ERROR)
        return None


@admin.register(StagedUpload)
class StagedUploadAdmin(ReadOnlyAdmin):
    site_field = "definition__site"
    list_display = ("id", "definition", "content_type", "row_count", "byte_count", "sync", "created_at")
    list_filter = ("content_type",)
    list_select_related = ("definition", "sync")
