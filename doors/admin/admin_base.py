"""What every model admin shares: tenancy (a site's staff see, pick and save only their own site's
records), forms that cannot link records of two sites, read-only pipeline records, and a safety net
that turns a database refusal into an admin error message instead of a 500.

Tenancy is enforced where Django's admin looks records up, not per admin: the changelist, change,
delete and history views and the references their rows show (`get_queryset`), the choices, raw-id
labels and autocomplete of every relation field (`formfield_for_foreignkey`/`_manytomany`, `ScopedForeignKeyRawIdWidget`), initial
values from the query string (`get_changeform_initial_data`), list filters (`get_list_filter`) and
delete confirmations (`get_deleted_objects`: a cascade that would reach another site's rows is
refused, and none of them is named).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AllValuesFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.admin.utils import NestedObjects
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DataError, IntegrityError, InternalError, models, router
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.text import Truncator

from kernel.models import Site

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


def _direct_site_path(model) -> str | None:
    if model is Site:
        return "pk"
    if getattr(model, "site_path", None):
        return model.site_path
    return "site" if has_own_site(model) else None


def site_path_of(model) -> str | None:
    """The ORM path from a row of `model` to the id of the site it belongs to: `pk` for a site,
    the model's `site_path`, its own `site`, or one foreign key away (an OAuth token's `user__site`,
    a link table's `opportunity__site`). None: a global table (currencies, groups, permissions)."""
    direct = _direct_site_path(model)
    if direct is not None:
        return direct
    for field in model._meta.concrete_fields:
        if (field.many_to_one or field.one_to_one) and field.related_model is not model:
            hop = _direct_site_path(field.related_model)
            if hop is not None:
                return field.name if hop == "pk" else f"{field.name}__{hop}"
    return None


def _reaches_other_site(model, rows, site_id: int) -> bool:
    """Whether any of `rows` (instances or a queryset of `model`) belongs to another site than
    `site_id`, or, for a table without a site of its own (a many-to-many link), names a record of
    another site."""
    qs = rows if isinstance(rows, models.QuerySet) else model._base_manager.filter(pk__in=[r.pk for r in rows])
    direct = _direct_site_path(model)
    if direct is not None:
        return qs.exclude(**{direct: site_id}).exists()
    for field in model._meta.concrete_fields:
        if not (field.many_to_one or field.one_to_one):
            continue
        hop = _direct_site_path(field.related_model)
        if hop is None:
            continue
        named = qs.filter(**{f"{field.attname}__isnull": False}).values(field.attname)
        target = field.related_model._base_manager.filter(**{f"{field.target_field.attname}__in": named})
        if target.exclude(**{hop: site_id}).exists():
            return True
    return False


def other_sites_in_cascade(objs, site_id: int) -> list[str]:
    """What deleting `objs` would delete, change (SET_NULL) or be stopped by (PROTECT) that belongs
    to another site: the names of those tables, never of the rows."""
    objs = list(objs)
    if not objs:
        return []
    collector = NestedObjects(using=router.db_for_write(type(objs[0])))
    collector.collect(objs)
    touched: dict = defaultdict(list)
    for model, instances in collector.model_objs.items():
        touched[model].append(list(instances))
    for obj in collector.protected:
        touched[type(obj)].append([obj])
    for (field, _value), batches in collector.field_updates.items():
        for batch in batches:
            touched[field.model].append(batch)
    return sorted(
        str(model._meta.verbose_name_plural)
        for model, batches in touched.items()
        if any(_reaches_other_site(model, batch, site_id) for batch in batches)
    )


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


class ScopedForeignKeyRawIdWidget(ForeignKeyRawIdWidget):
    """The raw-id widget, labelling its value only from the records the user may pick.

    Django's widget looks the label up through the related model's default manager, so an id typed
    into the field, posted, or given as `?account=<id>` on an add form showed any site's record
    next to the box."""

    def __init__(self, rel, admin_site, attrs=None, using=None, queryset=None):
        super().__init__(rel, admin_site, attrs=attrs, using=using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        if self.queryset is None:
            return "", ""
        key = self.rel.get_related_field().name
        try:
            obj = self.queryset.using(self.db).get(**{key: value})
        except (ValueError, TypeError, ValidationError, self.rel.model.DoesNotExist):
            return "", ""
        try:
            url = reverse(f"{self.admin_site.name}:{obj._meta.app_label}_{obj._meta.model_name}_change", args=(obj.pk,))
        except NoReverseMatch:
            url = ""
        return Truncator(obj).words(14), url


class SiteScopedAllValuesFieldListFilter(AllValuesFieldListFilter):
    """A filter by a related table's values ("By stage name") lists the values of the rows the user
    may see; Django's own takes them from every row of the related table (every site's)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        rows = model_admin.get_queryset(request).order_by()
        self.lookup_choices = rows.distinct().order_by(field_path).values_list(field_path, flat=True)


class SiteScopedAdmin(admin.ModelAdmin):
    """Staff see and edit only their own site's rows; new rows get their site. Superusers see every
    site, and their forms still cannot mix two sites' records."""

    site_field = "site"  # the path from the model to its site

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        if request.user.site_id is None:
            return qs.none()  # a staff user without a site sees nothing, not the rows without one
        return qs.filter(**{self.site_field: request.user.site_id}).prefetch_related(*self._scoped_relations(request))

    def _scoped_relations(self, request) -> list[Prefetch]:
        """The rows' references to other site-owned records (a contact's account, a sync's
        definition), loaded through the scoped querysets: one that a broken link points at another
        site's record shows as empty ("-") in lists and read-only fields, never by its name."""
        out = []
        for field in self.model._meta.concrete_fields:
            related = field.related_model
            if not (field.many_to_one or field.one_to_one) or related is Site or site_path_of(related) is None:
                continue
            queryset = self._scope_queryset(request, related._base_manager.all())
            out.append(
                Prefetch(field.name, queryset=queryset.select_related("site") if has_own_site(related) else queryset)
            )
        return out

    def get_list_select_related(self, request):
        """A join would load the scoped references above whole (any site's): for staff, the list
        joins only the others (its own site)."""
        wanted = super().get_list_select_related(request)
        if request.user.is_superuser:
            return wanted
        if wanted is True or wanted is False:
            names = [f.name for f in self.model._meta.concrete_fields if f.many_to_one or f.one_to_one]
            wanted = names if wanted is True else [n for n in names if n in self.get_list_display(request)]
        scoped = {p.prefetch_through for p in self._scoped_relations(request)}
        return tuple(path for path in wanted if path.split("__")[0] not in scoped)

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
            elif isinstance(item, str) and self._is_value_across_relation(name):
                scoped.append((name, SiteScopedAllValuesFieldListFilter))
            else:
                scoped.append(item)
        return scoped

    def _path_fields(self, path: str) -> list | None:
        model, fields = self.model, []
        for part in path.split("__"):
            if model is None:
                return None
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                return None
            fields.append(field)
            model = field.related_model if field.is_relation else None
        return fields or None

    def _is_relation_path(self, path: str) -> bool:
        fields = self._path_fields(path)
        return fields is not None and all(f.is_relation for f in fields)

    def _is_value_across_relation(self, path: str) -> bool:
        """`stage__name`: a related table's free values, which Django lists from every row."""
        fields = self._path_fields(path)
        if fields is None or len(fields) < 2 or fields[-1].is_relation:
            return False
        last = fields[-1]
        return not last.choices and not isinstance(last, models.BooleanField | models.DateField)

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
        """The records of `queryset` the user may pick: their own site's (every site's for a
        superuser); global tables (currencies, groups) whole."""
        model = queryset.model
        if request.user.is_superuser:
            return queryset.select_related("site") if has_own_site(model) else queryset
        path = site_path_of(model)
        if path is None:
            return queryset
        if request.user.site_id is None:
            return queryset.none()
        return queryset.filter(**{path: request.user.site_id})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        raw_id = "widget" not in kwargs and db_field.name in self.raw_id_fields
        if raw_id:
            kwargs["widget"] = ScopedForeignKeyRawIdWidget(
                db_field.remote_field, self.admin_site, using=kwargs.get("using")
            )
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._scope_queryset(request, field.queryset)
            if raw_id:
                field.widget.queryset = field.queryset
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

    def get_changeform_initial_data(self, request):
        """`?account=<id>` (Django's "add another", or typed by hand) prefills a relation only with
        a record the user may pick: another site's id is dropped, so no widget looks it up."""
        initial = super().get_changeform_initial_data(request)
        if request.user.is_superuser:
            return initial
        for name, value in list(initial.items()):
            try:
                field = self.opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if not (field.is_relation and field.concrete):
                continue
            wanted = {str(v).strip() for v in (value if isinstance(value, list) else [value])} - {""}
            key = field.target_field.name if (field.many_to_one or field.one_to_one) else "pk"
            allowed = self._scope_queryset(request, field.related_model._default_manager.all())
            try:
                found = {str(v) for v in allowed.filter(**{f"{key}__in": wanted}).values_list(key, flat=True)}
            except (ValueError, TypeError, ValidationError):
                found = set()
            if not wanted <= found:
                del initial[name]
        return initial

    def get_deleted_objects(self, objs, request):
        """A staff user's delete may not reach another site's rows: not delete them (CASCADE),
        change them (SET_NULL) nor name them (PROTECT), which only a broken cross-site link could
        cause. It is refused as protected, naming the tables, not the rows."""
        if not request.user.is_superuser:
            others = other_sites_in_cascade(objs, request.user.site_id)
            if others:
                what = ", ".join(others)
                return [], {}, set(), [f"Records of another site ({what}) refer to it: only a superuser can delete it."]
        return super().get_deleted_objects(objs, request)

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
