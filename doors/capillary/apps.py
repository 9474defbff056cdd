from django.apps import AppConfig


class CapillaryConfig(AppConfig):
    name = "doors.capillary"
    label = "capillary"
    verbose_name = "Capillary coupon upload door"

    def ready(self) -> None:
        from pipeline.processors import register_end_hook

        from .services import upload_job_sync_ended

        register_end_hook(upload_job_sync_ended)
