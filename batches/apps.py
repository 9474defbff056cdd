from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "One-shot CSV batch uploads"

    def ready(self) -> None:
        from bulkapi.catalog import register
        from syncs.processors import register_processor

        from .processor import OPPORTUNITY_BATCH, lane_key, process_batch_chunk

        register(OPPORTUNITY_BATCH)
        register_processor(
            OPPORTUNITY_BATCH.entity,
            process_batch_chunk,
            lane_key=lane_key,
            writes=("opportunities_opportunity", "contacts_contact", "linkage_opportunitycontact"),
        )
