from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The admin an operator lives in: dashboard, imports from a CSV with a dry run, sync pages,
    downloads, and the site-scoping every model admin shares (`admin_base`). The admin site itself
    (login form, titles, a scoped "view on site") is `sites.BackofficeAdminSite`."""

    name = "doors.admin"
    label = "backoffice"
    verbose_name = "Back office"
