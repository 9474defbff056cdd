"""The batch job answer is one shape (`doors/batch/api/shapes.py`): its serializer is its members, and
the answers it renders for a real job, pending and ended, are valid against the BatchJob component."""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from doors.batch.api.shapes import BATCH_JOB, BATCH_PROGRESS
from tests.doors.batch.helpers import HEADER, rows_csv, upload
from tests.doors.openapi.test_schema import _json_schema
from tests.pipeline.helpers import drive

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("shape", [BATCH_JOB, BATCH_PROGRESS], ids=lambda s: s.ref_name)
def test_the_serializer_the_schema_shows_is_the_shape_that_renders(shape):
    assert shape.serializer.Meta.ref_name == shape.ref_name
    assert list(shape.serializer().fields) == list(shape.names)


def test_job_answers_are_valid_against_the_batch_job_component(api):
    from doors.batch.models import BatchJob

    document = SchemaGenerator().get_schema(request=None, public=True)
    validator = jsonschema.Draft7Validator(_json_schema(document["components"]["schemas"]["BatchJob"], document))
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1200.50,Proposal,ann@example.com,REF-1",
        "2024-05-02T10:00:00Z,GBP,5,No Such Stage,bob@example.com,REF-2",
        header=HEADER,
    )
    response = upload(api, text)
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    pending = api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    validator.validate(pending)
    assert list(pending) == list(BATCH_JOB.names)
    drive(BatchJob.objects.get(uuid=job_id).sync_id)
    ended = api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    validator.validate(ended)
    assert ended["errorFileUrl"].startswith("http") and list(ended) == list(BATCH_JOB.names)
    listed = api.get(f"/api/v1/{api.site.pk}/batch").json()
    for item in listed["items"]:
        validator.validate(item)
