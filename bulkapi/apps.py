from django.apps import AppConfig


class BulkapiConfig(AppConfig):
    name = "bulkapi"
    verbose_name = "Bulk API: sites, auth and imports"
