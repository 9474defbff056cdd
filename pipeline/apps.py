from django.apps import AppConfig


class SyncsConfig(AppConfig):
    name = "pipeline"
    label = "syncs"
