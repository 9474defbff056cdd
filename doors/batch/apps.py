from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "doors.batch"
    label = "batches"
    verbose_name = "One-shot CSV batch uploads"

    def ready(self) -> None:
        from doors.batch.api.views import MULTIPART_OVERHEAD
        from doors.batch.processor import OPPORTUNITY_BATCH, lane_key, process_batch_chunk
        from doors.batch.services import batch_file_bytes_usage, batch_jobs_purge_with_syncs, max_upload_bytes
        from kernel.middleware import register_body_limit
        from pipeline.catalog import register
        from pipeline.processors import register_history_hook, register_processor
        from pipeline.quotas import Quota, register_usage

        register(OPPORTUNITY_BATCH)
        register_processor(
            OPPORTUNITY_BATCH.entity,
            process_batch_chunk,
            lane_key=lane_key,
            writes=("opportunities_opportunity", "contacts_contact", "linkage_opportunitycontact"),
        )
        register_body_limit(r"/opportunity/upload/batch/*$", lambda: max_upload_bytes() + MULTIPART_OVERHEAD)
        register_usage(Quota.BATCH_FILE_BYTES, batch_file_bytes_usage)
        register_history_hook(batch_jobs_purge_with_syncs)
