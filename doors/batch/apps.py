from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "doors.batch"
    label = "batches"
    verbose_name = "One-shot CSV batch uploads"

    def ready(self) -> None:
        from doors.batch.processor import OPPORTUNITY_BATCH, lane_key, process_batch_chunk
        from pipeline.catalog import register
        from pipeline.processors import register_processor

        register(OPPORTUNITY_BATCH)
        register_processor(
            OPPORTUNITY_BATCH.entity,
            process_batch_chunk,
            lane_key=lane_key,
            writes=("opportunities_opportunity", "contacts_contact", "linkage_opportunitycontact"),
        )
