"""What the shared factories make is consistent: definitions the API would accept, syncs of a real
definition of their site with a lane row per lane, links within one site."""

import pytest

from pipeline.definitions import definition_body, validate_definition
from pipeline.models import SyncLane
from tests.factories import (
    AccountImportDefinitionFactory,
    BatchJobFactory,
    ContactImportDefinitionFactory,
    ImportDefinitionFactory,
    LinkImportDefinitionFactory,
    OpportunityContactFactory,
    RejectFactory,
    StagedUploadFactory,
    SyncFactory,
    SyncLaneFactory,
    SyncLogFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "factory",
    [ImportDefinitionFactory, ContactImportDefinitionFactory, AccountImportDefinitionFactory,
     LinkImportDefinitionFactory],
)  # fmt: skip
def test_definitions_are_ones_the_api_accepts(factory):
    definition = factory()
    values = validate_definition(site=definition.site, entity=definition.entity, body=definition_body(definition))
    assert values["fields"] == definition.fields
    assert values["identifier_field_name"] == definition.identifier_field_name


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_sync_has_its_sites_definition_its_uri_and_a_lane_row_per_lane(lanes):
    sync = SyncFactory(lanes=lanes, status="active", range_ends=[10, 20])
    assert sync.definition.site_id == sync.site_id and sync.synced_instance_uri == sync.definition.uri
    assert sorted(SyncLane.objects.filter(sync=sync).values_list("lane", flat=True)) == list(range(lanes))
    assert (sync.upto_id, sync.total_rows, sync.range_rows) == (20, 20, 10)
    assert not SyncLane.objects.filter(sync=SyncFactory(with_lanes=False)).exists()


def test_the_other_factories_make_rows_of_one_site():
    link = OpportunityContactFactory()
    assert link.opportunity.site_id == link.contact.site_id == link.site_id
    assert SyncLaneFactory(lane=0).sync.lane_states.count() == 1
    assert SyncLogFactory().sync_id and RejectFactory().sync.status == "warning"
    upload = StagedUploadFactory()
    assert upload.columns == [key for key, _ in upload.definition.fields]
    assert BatchJobFactory().uuid
