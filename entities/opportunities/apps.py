from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "entities.opportunities"
    label = "opportunities"

    def ready(self) -> None:
        from entities.opportunities import sql
        from entities.opportunities.catalog import OPPORTUNITY
        from entities.opportunities.services import stages_create_defaults
        from kernel.services import site_setup_register
        from pipeline.catalog import register
        from pipeline.processors import register_processor

        register(OPPORTUNITY)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            lane_key=sql.lane_key,
            writes=("opportunities_opportunity",),
        )
        site_setup_register(lambda site: stages_create_defaults(site=site))
