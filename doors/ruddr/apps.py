from django.apps import AppConfig


class RuddrConfig(AppConfig):
    """Ruddr's opportunity API (`/api/workspace/`): a wire format over the opportunities domain."""

    name = "doors.ruddr"
    label = "ruddr"
    verbose_name = "Ruddr door"
