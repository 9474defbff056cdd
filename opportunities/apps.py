from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self) -> None:
        from bulkapi.catalog import register
        from syncs.processors import register_processor

        from . import sql
        from .catalog import OPPORTUNITY

        register(OPPORTUNITY)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            OPPORTUNITY.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, **kw),
            lane_key=sql.lane_key,
            writes=("opportunities_opportunity",),
        )
