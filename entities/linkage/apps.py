from django.apps import AppConfig


class LinkageConfig(AppConfig):
    name = "entities.linkage"
    label = "linkage"

    def ready(self) -> None:
        from entities.linkage import sql
        from entities.linkage.catalog import OPPORTUNITY_LINK
        from pipeline.catalog import register
        from pipeline.processors import register_processor

        register(OPPORTUNITY_LINK)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY_LINK.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            finish_logs=sql.finish_logs,
            lane_key=sql.lane_key,
            writes=("linkage_opportunitycontact",),
        )
