"""Plans of the linkage chunk statement (entities.linkage.sql) on realistic tables (6,000
opportunities, contacts and accounts a site, two sites, analysed): each staged row finds its
opportunity and its contacts (or account, and the account's contacts) by index probes keyed by more
than the site (tests.plans.assert_probes), never by reading a table once per row."""

import pytest
from django.db import connection

from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity, Stage
from pipeline.services import sync_run_chunk
from tests.entities.contacts.test_plans import RECORDS, fill
from tests.entities.linkage.helpers import link_definition
from tests.factories import SiteFactory
from tests.pipeline.helpers import drive, staged_sync
from tests.plans import assert_probes, captured_plans, plan_of

pytestmark = pytest.mark.django_db


def fill_opportunities(*sites) -> None:
    for s in sites:
        first = Stage.objects.for_site(s).first()
        Opportunity.objects.bulk_create(
            Opportunity(site=s, external_id=f"OPP-{i}", name="n", stage=first) for i in range(1, RECORDS + 1)
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE opportunities_opportunity")


# Accounts matched ignoring case (the default) by external id were found by reading the site's
# accounts whole (a bitmap scan of the site, hashed) once per chunk, until account_site_extid_ci.


@pytest.mark.parametrize("by", ["contact e-mail", "account external id"])
def test_linkage_rows_find_their_opportunity_and_records_by_index_probes(settings, by):
    # given
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 500, 1
    site, other = SiteFactory(), SiteFactory()
    fill(site, other)
    fill_opportunities(site, other)
    if by == "contact e-mail":
        definition = link_definition(site)
        rows = [{"OpportunityID": f"opp-{i}", "EmailAddress": f"C{i}@example.com"} for i in range(1, 501)]
    else:
        definition = link_definition(
            site,
            fields={"OpportunityID": "{{Opportunity.Id}}", "Company": "{{Opportunity.Account.Field(CompanyIDExt)}}"},
            linkOpportunitiesEntityType="Account",
            linkOpportunitiesSourceField="Company",
            linkOpportunitiesMatchFieldName="OpportunityID",
        )
        rows = [{"OpportunityID": f"OPP-{i}", "Company": f"acc-{i}"} for i in range(1, 501)]
    sync = staged_sync(definition, rows)
    # when
    with captured_plans() as plans:
        sync_run_chunk(sync_id=sync.pk, lane=0)
    # then
    plan = plan_of(plans, "WITH r AS MATERIALIZED")
    reads = assert_probes(plan, "opportunities_opportunity")
    assert any("opportunity_site_extid_ci" in r for r in reads), plan
    reads = assert_probes(plan, "contacts_contact")
    if by == "contact e-mail":
        assert any("lower((email)::text)" in r for r in reads), plan
    else:
        assert any("contact_account" in r for r in reads), plan
        reads = assert_probes(plan, "contacts_account")
        assert any("account_site_extid_ci" in r for r in reads), plan
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success", sync.status
    assert OpportunityContact.objects.filter(site=site).count() == 500
