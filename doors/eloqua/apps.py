from django.apps import AppConfig


class EloquaConfig(AppConfig):
    name = "doors.eloqua"
    label = "eloqua"
    verbose_name = "The Eloqua Bulk API 2.0 door"

    def ready(self) -> None:
        from doors.eloqua.shapes import SYNC
        from pipeline.callbacks import register_body

        # A sync's callback carries the sync as this door answers it (`GET /syncs/{id}` without progress).
        register_body(SYNC.render)
