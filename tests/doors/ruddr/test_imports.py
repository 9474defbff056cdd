"""What the imports write is what the Ruddr door reads: Salesforce and HubSpot ids from an Eloqua
import's field statements."""

import pytest

from entities.opportunities.models import Opportunity
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db


def test_the_field_catalog_lists_the_salesforce_and_hubspot_ids(api):
    items = api.get("/api/bulk/2.0/opportunities/fields", {"limit": 1000}).json()["items"]
    by_statement = {f["statement"]: f for f in items}
    assert by_statement["{{Opportunity.Field(SalesforceId)}}"]["internalName"] == "SalesforceId"
    assert by_statement["{{Opportunity.Field(HubspotId)}}"]["dataType"] == "string"


def test_an_eloqua_import_sets_them_and_the_door_reads_them(api):
    # given an import that maps both statements
    fields = [
        *ImportDefinitionFactory.build().fields,
        ["SalesforceId", "{{Opportunity.Field(SalesforceId)}}"],
        ["HubspotId", "{{Opportunity.Field(HubspotId)}}"],
    ]
    definition = ImportDefinitionFactory(site=api.site, fields=fields)
    row = {"OpportunityID": "E1", "OpportunityName": "Deal", "Amount": "10", "Stage": "Proposal"}

    # when
    sync = run_sync(definition, [{**row, "SalesforceId": "0060b00000BkFxAAAV", "HubspotId": "12345678"}])

    # then
    assert sync.status == "success"
    opp = Opportunity.objects.get(site=api.site, external_id="E1")
    out = api.get(f"/api/workspace/opportunities/{opp.uuid}").json()
    assert out["salesforceId"] == "0060b00000BkFxAAAV" and out["hubspotId"] == "12345678"
    # and: a row without them leaves another opportunity's null
    run_sync(definition, [{**row, "OpportunityID": "E2"}])
    other = Opportunity.objects.get(site=api.site, external_id="E2")
    assert other.salesforce_id is None and other.hubspot_id is None
