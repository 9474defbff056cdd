"""The statistics refresh before a chunk (pipeline.services._refresh_stale_statistics), against the
real statistics collector: committed data, so this test runs outside a transaction."""

import re

import pytest
from django.db import connection

from entities.opportunities.models import Opportunity, Stage
from pipeline.models import SyncLane
from tests.factories import ImportDefinitionFactory, SiteFactory
from tests.pipeline.helpers import drive, staged_sync
from tests.plans import captured_plans

pytestmark = pytest.mark.django_db(transaction=True)


def last_analyze():
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, at its next idle
        cur.execute(
            "SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables"
            " WHERE relname = 'opportunities_opportunity'"
        )
        return cur.fetchone()[0]


def test_a_table_changed_since_the_sync_started_is_analysed_after_the_first_range(settings):
    # given: statistics that know 5,000 opportunities of another site, and none of this one
    other = SiteFactory()
    first_stage = Stage.objects.for_site(other).first()
    Opportunity.objects.bulk_create(
        Opportunity(site=other, external_id=f"X-{i}", name="x", stage=first_stage) for i in range(5000)
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE opportunities_opportunity")
    analysed = last_analyze()
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 1500, 1
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [{"OpportunityID": f"N-{i}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                       for i in range(3000)])  # fmt: skip
    # when: the first range writes 1,500 rows (under 4x the 5,000 the statistics counted)
    drive(sync.pk, chunks=1)
    assert last_analyze() == analysed
    drive(sync.pk, chunks=1)
    # then: the second chunk was planned on statistics that include this site
    assert last_analyze() > analysed
    sync.refresh_from_db()
    assert sync.status == "success" and Opportunity.objects.filter(site=site).count() == 3000


@pytest.mark.parametrize("state", ["never analysed", "analysed empty", "analysed with other sites"])
def test_lanes_start_on_statistics_that_know_the_first_range(settings, state):
    """A lane planning its chunk while another fills a table the statistics call empty, or know only
    other sites of, may match each staged row by walking the site's stretch of an index: every
    row the other lane inserts, once per staged row. So lane 0 runs the short range 0 alone and
    analyses what it wrote; the other lanes then plan each match as one index probe."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 500, 2, 200
    with connection.cursor() as cur:
        if state == "never analysed":  # as a new table: no statistics at all
            cur.execute("DELETE FROM pg_statistic WHERE starelid = 'opportunities_opportunity'::regclass")
            cur.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE relname = 'opportunities_opportunity'")
        else:
            if state == "analysed with other sites":
                other = SiteFactory()
                first_stage = Stage.objects.for_site(other).first()
                Opportunity.objects.bulk_create(
                    Opportunity(site=other, external_id=f"X-{i}", name="x", stage=first_stage) for i in range(5000)
                )
            cur.execute("ANALYZE opportunities_opportunity")
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [{"OpportunityID": f"E-{i:04d}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                       for i in range(2000)])  # fmt: skip
    assert sync.first_range_rows == 200 and len(sync.range_ends) == 3  # 200 + 1000 + 800

    # when: lane 1 is run first, then lane 0 (through range 0), then lane 1
    drive_lane(sync.pk, 1)
    assert SyncLane.objects.get(sync=sync, lane=1).next_range == 0  # not started: lane 0 starts it
    drive_lane(sync.pk, 0)
    assert Opportunity.objects.filter(site=site).count() == 200  # range 0's rows are all lane 0's
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'opportunities_opportunity'")
        assert cur.fetchone()[0] == Opportunity.objects.count()  # analysed with them
    with captured_plans() as plans:
        drive_lane(sync.pk, 1)  # range 0: none of its rows
        drive_lane(sync.pk, 1)  # range 1: its first rows

    # then: lane 1 matched each row with one probe of the (site, lower(external_id)) index
    judge = [p for p in plans if "CREATE TEMP TABLE _rows" in p]
    assert len(judge) == 2
    probe = judge[1][judge[1].index("Limit") :]
    # (an Index Scan, or a Bitmap Heap Scan of one Bitmap Index Scan: the planner's pick among equal costs)
    assert re.search(r"(Index Scan using|Bitmap Index Scan on) opportunity_site_extid_ci\b", probe), probe
    assert "Index Cond: ((site_id = " in probe and "AND (lower((external_id)::text) = " in probe, probe
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success" and Opportunity.objects.filter(site=site).count() == 2000


def drive_lane(sync_id: int, lane: int) -> None:
    from pipeline.services import sync_run_chunk

    sync_run_chunk(sync_id=sync_id, lane=lane)


def test_the_refresh_analyses_only_the_columns_sync_plans_find_rows_by(settings):
    """A full ANALYZE sorts 30,000 sampled values of every column (names, jsonb, dates): most of its
    cost, and no sync plan uses them. The refresh analyses the row count and the lookup columns."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 500, 2, 200
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE opportunities_opportunity SET (autovacuum_enabled = off)")  # only ours, then
        cur.execute("DELETE FROM pg_statistic WHERE starelid = 'opportunities_opportunity'::regclass")
    try:
        site = SiteFactory()
        definition = ImportDefinitionFactory(site=site)
        sync = staged_sync(definition, [{"OpportunityID": f"C-{i}", "OpportunityName": f"n{i}", "Stage": "Proposal", "Amount": "1",
                            "AccountName": f"a{i % 7}"} for i in range(1500)])  # fmt: skip
        drive(sync.pk)
        with connection.cursor() as cur:
            cur.execute("SELECT attname FROM pg_stats WHERE tablename = 'opportunities_opportunity'")
            analysed = {name for (name,) in cur.fetchall()}
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'opportunities_opportunity'")
            counted = cur.fetchone()[0]
        assert {"id", "site_id", "external_id"} <= analysed
        assert not analysed & {"name", "account_name", "custom_fields", "created_at"}, analysed
        assert counted >= 200  # the row count came with it
    finally:
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE opportunities_opportunity RESET (autovacuum_enabled)")


def test_a_staging_partition_filled_since_its_last_analysis_is_analysed_before_a_chunk():
    """Staged rows are partitioned (pipeline.partitions): chunks are planned on the statistics of
    the partitions their id range lies in, so each partition counts as a table of its own."""
    from pipeline.services.run import _refresh_stale_statistics

    definition = ImportDefinitionFactory(site=SiteFactory())
    sync = staged_sync(definition, [{"OpportunityID": f"P-{i}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                       for i in range(3000)])  # fmt: skip
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM bulkapi_stagedrow WHERE definition_id = %s", [definition.pk]
        )
        ((partition,),) = cur.fetchall()
        cur.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, at its next idle
        cur.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [partition])
        before = cur.fetchone()[0]

    _refresh_stale_statistics(sync.pk)

    with connection.cursor() as cur:
        cur.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [partition])
        after = cur.fetchone()[0]
    assert after is not None and (before is None or after > before)
