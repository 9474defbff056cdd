"""The statistics refresh before a chunk (syncs.services._refresh_stale_statistics), against the
real statistics collector: committed data, so this test runs outside a transaction."""

import pytest
from django.db import connection

from opportunities.models import Opportunity, Stage
from syncs.services import sync_start
from tests.factories import ImportDefinitionFactory, SiteFactory, UserFactory
from tests.syncs.helpers import drive, stage

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
    stage(definition, [{"OpportunityID": f"N-{i}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                       for i in range(3000)])  # fmt: skip
    sync = sync_start(definition=definition, user=UserFactory(site=site))
    # when: the first range writes 1,500 rows (under 4x the 5,000 the statistics counted)
    drive(sync.pk, chunks=1)
    assert last_analyze() == analysed
    drive(sync.pk, chunks=1)
    # then: the second chunk was planned on statistics that include this site
    assert last_analyze() > analysed
    sync.refresh_from_db()
    assert sync.status == "success" and Opportunity.objects.filter(site=site).count() == 3000
