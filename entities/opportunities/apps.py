from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "entities.opportunities"
    label = "opportunities"

    def ready(self) -> None:
        from entities.opportunities import sql
        from entities.opportunities.catalog import OPPORTUNITY
        from entities.opportunities.models import Opportunity
        from entities.opportunities.services import stages_create_defaults
        from kernel.services import site_setup_register
        from pipeline.catalog import register
        from pipeline.processors import register_processor, register_statistics

        register(OPPORTUNITY)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            lane_key=sql.lane_key,
            writes=(Opportunity._meta.db_table,),
            records=Opportunity._meta.db_table,
        )
        register_statistics(Opportunity._meta.db_table, ("id", "site_id", "external_id"))
        site_setup_register(lambda site: stages_create_defaults(site=site))
