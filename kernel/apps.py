from django.apps import AppConfig


class BulkapiConfig(AppConfig):
    name = "kernel"
    label = "bulkapi"
    verbose_name = "Bulk API: sites, auth and imports"

    def ready(self) -> None:
        from kernel import converters
        from kernel.logging import install_record_factory

        install_record_factory()
        converters.register()
