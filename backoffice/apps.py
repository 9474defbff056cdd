from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The admin an operator lives in: dashboard, imports from a CSV with a dry run, sync pages,
    downloads, and the site-scoping every model admin shares (`admin_base`)."""

    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from django.contrib import admin

        from .forms import SiteUserLoginForm

        admin.site.login_form = SiteUserLoginForm
        admin.site.site_header = "Bulk import server"
        admin.site.site_title = "Bulk import server"
        admin.site.index_title = "Dashboard"
        admin.site.site_url = None  # no "View site": this server's root is an API, not a web site
