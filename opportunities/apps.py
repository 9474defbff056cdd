from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self) -> None:
        from bulkapi.catalog import register

        from .catalog import OPPORTUNITY

        register(OPPORTUNITY)
