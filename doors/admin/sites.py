"""The admin site itself (Django's, made the default by `BackofficeAdminConfig`, which INSTALLED_APPS
names in place of "django.contrib.admin", the way Django's docs override the default site): its
login form and titles, "view on site" answering only for records the user may see, and a user's
own password change going through `kernel.services.user_password_change` (which ends their OAuth
tokens).

Imported while the app registry loads (INSTALLED_APPS names the config): models and forms are
imported inside the methods."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404
from django.urls import NoReverseMatch, path, reverse


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Bulk import server"
    site_title = "Bulk import server"
    index_title = "Dashboard"
    site_url = None  # no "View site": this server's root is an API, not a web site

    @property
    def login_form(self):
        from doors.admin.forms import SiteUserLoginForm

        return SiteUserLoginForm

    def get_urls(self):
        return [
            path("r/<path:content_type_id>/<path:object_id>/", self.admin_view(self.view_on_site), name="view_on_site")
            if getattr(pattern, "name", None) == "view_on_site"
            else pattern
            for pattern in super().get_urls()
        ]

    def view_on_site(self, request, content_type_id: str, object_id: str):
        """Django's `/admin/r/<type>/<id>/` redirect to a record's own page, for a record the
        user's admin of that model shows them (Django's looks up any record of any type); a record
        whose page cannot be built is a 404, not a 500."""
        from django.contrib.contenttypes.models import ContentType
        from django.contrib.contenttypes.views import shortcut

        model = None
        if content_type_id.isdigit() and len(content_type_id) < 19:
            content_type = ContentType.objects.filter(pk=int(content_type_id)).first()
            model = content_type.model_class() if content_type is not None else None
        model_admin = self._registry.get(model)
        if model_admin is None or not model_admin.has_view_or_change_permission(request):
            raise Http404
        if model_admin.get_object(request, object_id) is None:
            raise Http404
        try:
            return shortcut(request, content_type_id, object_id)
        except NoReverseMatch:
            raise Http404 from None

    def password_change(self, request, extra_context=None):
        """Django's AdminSite.password_change, with our form (Django's names its form in the body)."""
        from django.contrib.auth.views import PasswordChangeView

        from doors.admin.forms import OwnPasswordForm

        defaults = {
            "form_class": OwnPasswordForm,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)


class BackofficeAdminConfig(AdminConfig):
    """`django.contrib.admin` with `BackofficeAdminSite` as `admin.site`."""

    default_site = "doors.admin.sites.BackofficeAdminSite"

    def ready(self) -> None:
        """Every app's own admin first (autodiscover: django.contrib.auth's, django-oauth-toolkit's),
        then ours (`doors.admin.registry`, one module per layer or entity), which replaces some of
        them: no package below the doors imports the admin."""
        super().ready()
        from doors.admin.registry import batches, contacts, kernel, linkage, opportunities, syncs  # noqa: F401
