from django.apps import AppConfig


class LinkageConfig(AppConfig):
    name = "entities.linkage"
    label = "linkage"

    def ready(self) -> None:
        from entities.linkage import sql
        from entities.linkage.catalog import OPPORTUNITY_LINK
        from entities.linkage.models import OpportunityContact
        from pipeline.catalog import register
        from pipeline.processors import register_processor, register_statistics

        register(OPPORTUNITY_LINK)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY_LINK.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            finish_logs=sql.finish_logs,
            lane_key=sql.lane_key,
            writes=(OpportunityContact._meta.db_table,),
        )
        register_statistics(OpportunityContact._meta.db_table, ("opportunity_id", "contact_id", "site_id"))
