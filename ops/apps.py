from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: metrics, the broker's queues as operators see them, callback failure records."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import signals  # noqa: F401 - connects the Celery signal receivers
