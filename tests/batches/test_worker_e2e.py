"""A batch job on a real Celery worker: a row fails at sync time, the job ends `partialcomplete`,
and the error and success files hold every row exactly once, with formulas neutralised."""

import csv
import io

import pytest

from batches.models import BatchJob
from opportunities.models import Opportunity, Stage
from syncs.models import Reject
from tests.batches.helpers import rows_csv, upload
from tests.conftest import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_sync_time_reject_gives_partialcomplete_and_complete_disjoint_files(api):
    # given: a valid file (row 2's Reference is free when it is validated) ...
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,10,Proposal,a@example.com,=SUM(1+1)",
        "2024-05-01T10:00:00Z,GBP,20,Proposal,b@example.com,@late",
        "2024-05-01T10:00:00Z,GBP,30,Negotiation,c@example.com,plain",
        "2024-05-01T10:00:00Z,GBP,40,Proposal,d@example.com,",
    )
    response = upload(api, text)
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    # ... and before the worker gets to it, another import creates an opportunity with that Reference
    Opportunity.objects.create(
        site=api.site, external_id="@LATE", name="someone else's", stage=Stage.objects.for_site(api.site).first()
    )

    # when: a worker runs the job
    worker = WorkerProcess()
    try:
        status = wait_for(
            lambda: (
                (s := api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json())["status"]
                in ("complete", "partialcomplete", "failed")
                and s
            ),
            timeout=60,
        )
    finally:
        worker.stop()

    # then
    assert status["status"] == "partialcomplete"
    assert (status["actualRowCount"], status["totalUploadedCount"], status["errorCount"]) == (4, 3, 1)
    assert Opportunity.objects.get(external_id="@LATE").name == "someone else's"  # never overwritten
    job = BatchJob.objects.get(uuid=job_id)
    assert list(Reject.objects.filter(sync=job.sync_id).values_list("record_index", flat=True)) == [2]

    errors = _csv(api.get(status["errorFileUrl"]))
    successes = _csv(api.get(status["successFileUrl"]))
    assert errors[0] == ["RowNumber", "Reference", "ErrorCode", "ErrorMessage"]
    assert errors[1][:3] == ["2", "'@late", "ELQ-00026"]
    assert successes[0] == ["RowNumber", "OpportunityId", "Reference"]
    by_row = {r[0]: r for r in successes[1:]}
    assert by_row["1"][2] == "'=SUM(1+1)"  # formula neutralised
    assert by_row["3"][2] == "plain"
    assert by_row["4"][2] == f"batch-{job_id}-4"
    assert by_row["1"][1] == str(Opportunity.objects.get(external_id="=SUM(1+1)").uuid)
    error_rows = {r[0] for r in errors[1:]}
    success_rows = set(by_row)
    assert error_rows.isdisjoint(success_rows)
    assert error_rows | success_rows == {"1", "2", "3", "4"}
