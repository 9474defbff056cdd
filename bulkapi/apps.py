from django.apps import AppConfig


class BulkapiConfig(AppConfig):
    name = "bulkapi"
    verbose_name = "Bulk API: sites, auth and imports"

    def ready(self) -> None:
        from . import converters
        from .logging import install_record_factory

        install_record_factory()
        converters.register()
