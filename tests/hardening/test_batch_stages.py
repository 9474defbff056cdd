"""A batch file naming new stages is accepted whatever sort order the site's stages already have."""

import pytest

from entities.opportunities.models import Stage
from tests.doors.batch.helpers import rows_csv, upload
from tests.factories import StageFactory

pytestmark = pytest.mark.django_db


def test_new_stages_after_a_stage_at_the_largest_sort_order(api):
    # given: a stage at the column's maximum (the REST API takes it)
    StageFactory(site=api.site, name="Last", sort_order=2**31 - 1)
    # when: a file names two stages the site does not have
    response = upload(
        api,
        rows_csv(
            "2024-01-01T00:00:00Z,USD,10,Brand new,a@example.com,R-1",
            "2024-01-02T00:00:00Z,USD,10,Newer still,b@example.com,R-2",
        ),
    )
    # then: accepted (was an integer overflow, a 500), the new stages last
    assert response.status_code == 202, response.content
    orders = dict(Stage.objects.filter(site=api.site).values_list("name", "sort_order"))
    assert orders["Brand new"] == orders["Newer still"] == 2**31 - 1
