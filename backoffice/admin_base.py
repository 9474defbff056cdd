"""What every model admin shares: tenancy (a site's staff see, pick and save only their own site's
records), forms that cannot link records of two sites, read-only pipeline records, and a safety net
that turns a database refusal into an admin error message instead of a 500."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import FieldDoesNotExist
from django.db import DataError, IntegrityError, InternalError, models
from django.http import HttpResponseRedirect

from bulkapi.models import Site

logger = logging.getLogger(__name__)

# What the database may refuse that a form could not see coming (a constraint, a trigger, a race).
DATABASE_REFUSALS = (IntegrityError, DataError, InternalError)


def site_of(obj) -> int | None:
    """The site id a record belongs to, when it has a `site` of its own."""
    return getattr(obj, "site_id", None)


def has_own_site(model) -> bool:
    try:
        return model._meta.get_field("site").related_model is Site
    except FieldDoesNotExist:
        return False


def database_refusal_text(exc: Exception) -> str:
    """The first line of what PostgreSQL said, for the admin's error message."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


class SiteConsistencyMixin:
    """Mixed into every admin model form (`SiteScopedAdmin.get_form`).

    - A staff user's new record gets their site before validation, so unique constraints that
      include the site are checked by the form (not refused by PostgreSQL as a 500).
    - A record's references (foreign keys, many-to-many) must belong to its own site: a superuser's
      form cannot give a Demo opportunity an Acme stage.
    - JSON columns that are NOT NULL with a default (`custom_fields`, `properties`) may be left empty:
      they save as their default, so saving a record unchanged works.
    """

    scoped_site_id: int | None = None  # the staff user's site; None for a superuser
    site_field: str = "site"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        scoped = self.scoped_site_id is not None and self.site_field == "site"
        if scoped and has_own_site(type(instance)) and instance.site_id is None:
            instance.site_id = self.scoped_site_id
        for name, field in self.fields.items():
            model_field = self._model_field(name)
            if isinstance(model_field, models.JSONField) and not model_field.null:
                field.required = False

    def _model_field(self, name: str):
        try:
            return self._meta.model._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def _get_validation_exclusions(self):
        exclude = super()._get_validation_exclusions()
        # The site is set on the instance (above, or by the record itself): let the unique
        # constraints that include it be checked even when the form does not show it.
        if self.site_field == "site" and getattr(self.instance, "site_id", None) is not None:
            exclude.discard("site")
        return exclude

    def clean(self):
        data = super().clean()
        for name, value in list(data.items()):
            model_field = self._model_field(name)
            if isinstance(model_field, models.JSONField) and not model_field.null and value is None:
                data[name] = model_field.get_default()
        if self.site_field != "site" or not has_own_site(self._meta.model):
            return data
        site = data.get("site") if "site" in data else getattr(self.instance, "site", None)
        site_id = site.pk if isinstance(site, Site) else None
        if site_id is None:
            return data
        for name, value in list(data.items()):
            model_field = self._model_field(name)
            if model_field is None or not model_field.is_relation or model_field.related_model is Site:
                continue
            if not has_own_site(model_field.related_model) or value is None:
                continue
            related = list(value) if model_field.many_to_many else [value]
            foreign = [obj for obj in related if site_of(obj) != site_id]
            if foreign:
                self.add_error(
                    name,
                    f"{', '.join(str(o) for o in foreign)}: belongs to another site than this record "
                    f"({site}). Pick one of {site}'s own.",
                )
        return data


class SiteScopedAdmin(admin.ModelAdmin):
    """Staff see and edit only their own site's rows; new rows get their site. Superusers see every
    site, and their forms still cannot mix two sites' records."""

    site_field = "site"  # the path from the model to its site

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{self.site_field: request.user.site_id})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and self.site_field == "site" and "site" not in fields:
            fields.append("site")
        return fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser:
            return filters
        scoped = []
        for item in filters:
            name = item[0] if isinstance(item, tuple | list) else item
            if not isinstance(name, str):
                scoped.append(item)
                continue
            if name == "site" or name.startswith("site__") or (self.site_field != "pk" and name == self.site_field):
                continue  # a staff user has one site: no "By site" filter naming the others
            if isinstance(item, str) and self._is_relation_path(name):
                # Only the values the (site-scoped) rows use, never every site's stages or accounts.
                scoped.append((name, RelatedOnlyFieldListFilter))
            else:
                scoped.append(item)
        return scoped

    def _is_relation_path(self, path: str) -> bool:
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                return False
            if not field.is_relation:
                return False
            model = field.related_model
        return field is not None and field.is_relation

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        scoped = None if request.user.is_superuser else request.user.site_id
        return type(
            form.__name__,
            (SiteConsistencyMixin, form),
            {"scoped_site_id": scoped, "site_field": self.site_field},
        )

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.site_field == "site" and not change:
            obj.site_id = request.user.site_id
        super().save_model(request, obj, form, change)

    def _scope_queryset(self, request, queryset):
        model = queryset.model
        if model is Site:
            return queryset if request.user.is_superuser else queryset.filter(pk=request.user.site_id)
        if not hasattr(model.objects, "for_site"):
            return queryset
        if request.user.is_superuser:
            return queryset.select_related("site") if has_own_site(model) else queryset
        return queryset.filter(**{getattr(model, "site_path", "site"): request.user.site_id})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._scope_queryset(request, field.queryset)
            if request.user.is_superuser and has_own_site(field.queryset.model):
                field.label_from_instance = lambda obj: f"{obj} ({obj.site})"
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._scope_queryset(request, field.queryset)
            if request.user.is_superuser and has_own_site(field.queryset.model):
                field.label_from_instance = lambda obj: f"{obj} ({obj.site})"
        return field

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DATABASE_REFUSALS as exc:
            return self._refused(request, exc, "Not saved")

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DATABASE_REFUSALS as exc:
            return self._refused(request, exc, "Not deleted")

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except DATABASE_REFUSALS as exc:
            return self._refused(request, exc, "Not done")

    def _refused(self, request, exc: Exception, what: str):
        """The database refused the write (rolled back whole): say why, back on the same page."""
        logger.warning("admin %s %s refused by the database: %s", request.method, request.path, exc)
        self.message_user(request, f"{what}: the database refused it ({database_refusal_text(exc)}).", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdmin(SiteScopedAdmin):
    """Records the pipeline makes (syncs, logs, rejects, staged uploads, batch jobs, links): viewable,
    never added, edited or deleted by hand; they change only through the services that own them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class JsonObjectField(forms.JSONField):
    """A JSON textarea that must hold an object (a definition's `fields`, `updateRuleByField`)."""

    def validate(self, value):
        super().validate(value)
        if value not in self.empty_values and not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object.")
