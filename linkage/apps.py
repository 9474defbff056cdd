from django.apps import AppConfig


class LinkageConfig(AppConfig):
    name = "linkage"

    def ready(self) -> None:
        from bulkapi.catalog import register
        from syncs.processors import register_processor

        from . import sql
        from .catalog import OPPORTUNITY_LINK

        register(OPPORTUNITY_LINK)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY_LINK.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            finish_logs=sql.finish_logs,
            lane_key=sql.lane_key,
            writes=("linkage_opportunitycontact",),
        )
