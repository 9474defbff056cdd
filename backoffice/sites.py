"""The admin site: Django's, but a user changing their own password at /admin/password_change/
does it through `bulkapi.services.user_password_change` (which ends their OAuth tokens).

Installed as Django's default admin site by `BackofficeAdminConfig` (INSTALLED_APPS names it in
place of "django.contrib.admin"), the way Django's docs override the default site."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import reverse


class BackofficeAdminSite(admin.AdminSite):
    def password_change(self, request, extra_context=None):
        """Django's AdminSite.password_change, with our form (Django's names its form in the body).
        Imported here as Django does: this module is loaded while the apps are not ready yet."""
        from django.contrib.auth.views import PasswordChangeView

        from .forms import OwnPasswordForm

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
    default_site = "backoffice.sites.BackofficeAdminSite"
