from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "One-shot CSV batch uploads"

    def ready(self) -> None:
        from bulkapi.catalog import register
        from bulkapi.definitions import URI_PREFIX
        from bulkapi.models import Entity
        from syncs.processors import register_processor

        from .processor import OPPORTUNITY_BATCH, process_batch_chunk

        register(OPPORTUNITY_BATCH)
        # Internal definitions need a uri (syncs record it); this prefix is not routed by the Bulk
        # API, so a batch definition can't be synced or listed through it.
        URI_PREFIX.setdefault(Entity.OPPORTUNITY_BATCH, "/batches/imports")
        register_processor(OPPORTUNITY_BATCH.entity, process_batch_chunk)
