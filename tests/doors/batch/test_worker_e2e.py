"""A batch job on a real Celery worker: a row fails at sync time (its stage was deleted meanwhile), the
job ends `partialcomplete`,
the error and success files hold every row exactly once with its own cells (formulas neutralised),
and the error file, fixed, uploads again as it is."""

import csv
import io

import pytest

from doors.batch.models import BatchJob
from entities.contacts.models import Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity, Stage
from pipeline.models import Reject
from tests.conftest import WorkerProcess, wait_for
from tests.doors.batch.helpers import csv_file, upload

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,Label,EmailAddress,Label,Reference"
ROWS = [
    "2024-05-01T10:00:00Z,GBP,10,Proposal,=SUM(1+1),a@example.com,,=SUM(1+1)",
    '2024-05-01T10:00:00Z,GBP,20,Short Lived,hot,b@example.com,"-x, y",@late',
    "2024-05-01T10:00:00Z,GBP,-30.5,Negotiation,,c@example.com,cold,plain",
    "2024-05-01T10:00:00Z,GBP,40,Proposal,,d@example.com,,",
]


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _finished(api, job_id):
    return wait_for(
        lambda: (
            (s := api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json())["status"]
            in ("complete", "partialcomplete", "failed")
            and s
        ),
        timeout=60,
    )


def test_result_files_carry_each_rows_cells_and_the_error_file_uploads_again(api):
    # given: a valid file (row 2 names a stage the job creates) ...
    text = "\r\n".join([HEADER, *ROWS]) + "\r\n"
    response = upload(api, text)
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    # ... and before the worker gets to it, someone deletes that stage
    Stage.objects.for_site(api.site).filter(name="Short Lived").delete()

    # when: a worker runs the job
    worker = WorkerProcess()
    try:
        status = _finished(api, job_id)

        # then
        assert status["status"] == "partialcomplete"
        assert (status["actualRowCount"], status["totalUploadedCount"], status["errorCount"]) == (4, 3, 1)
        job = BatchJob.objects.get(uuid=job_id)
        assert list(Reject.objects.filter(sync=job.sync_id).values_list("record_index", flat=True)) == [2]

        errors = _csv(api.get(status["errorFileUrl"]))
        successes = _csv(api.get(status["successFileUrl"]))
        original = HEADER.split(",")
        assert errors[0] == ["RowNumber", "ErrorCode", "ErrorField", "ErrorMessage", *original]
        assert successes[0] == [
            "RowNumber", "OpportunityId", "OpportunityExternalId", "StageCreated", "Outcome", *original
        ]  # fmt: skip
        # the row's own cells, in the file's order, neutralised where a spreadsheet would compute them
        assert errors[1] == [
            "2", "ELQ-00039", "PipelineStage", "Invalid opportunity stage.",
            "2024-05-01T10:00:00Z", "GBP", "20", "Short Lived", "hot", "b@example.com", "'-x, y", "'@late",
        ]  # fmt: skip
        by_row = {r[0]: r for r in successes[1:]}
        assert by_row["1"][5:] == ["2024-05-01T10:00:00Z", "GBP", "10", "Proposal", "'=SUM(1+1)", "a@example.com", "",
                                   "'=SUM(1+1)"]  # fmt: skip
        assert by_row["1"][1:3] == [str(Opportunity.objects.get(external_id="=SUM(1+1)").uuid), "'=SUM(1+1)"]
        assert by_row["3"][7] == "'-30.5"  # OWASP: a number starting with - too
        assert by_row["4"][2] == f"batch-{job_id}-4"
        assert {r[0] for r in errors[1:]}.isdisjoint(by_row)
        assert {r[0] for r in errors[1:]} | set(by_row) == {"1", "2", "3", "4"}

        # when: the user uploads the error file as it is (the stage is made again)
        fixed = io.StringIO()
        csv.writer(fixed, lineterminator="\r\n").writerows(errors)
        again = upload(api, fixed.getvalue(), name="errors-fixed.csv")
        assert again.status_code == 202, again.content
        status = _finished(api, again.json()["jobId"])
    finally:
        worker.stop()

    # then: the row is stored with its cells as first uploaded (the apostrophes undone)
    assert status["status"] == "complete" and status["totalUploadedCount"] == 1
    stored = Opportunity.objects.get(site=api.site, external_id="@late")
    assert stored.labels == ["hot", "-x, y"] and stored.amount == 20
    successes = _csv(api.get(status["successFileUrl"]))
    assert successes[0] == ["RowNumber", "OpportunityId", "OpportunityExternalId", "StageCreated", "Outcome", *original]
    assert successes[1][5:] == errors[1][4:]  # round trip: the same cells again


# Ruler's template file as its document writes it: the header (the document's columns, in its order)
# and the example row, unmodified.
RULER_TEMPLATE = (
    "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,RaId,EmailAddress,PhoneNumber,"
    "PayloadValue,Label,Reference,AdditionalDataProperties\r\n"
    '2024-01-15,GBP,1000.00,Proposal,ra-example-id,example@email.com,01234567890,,Deal,REF-001,"Name=Source,Value=Google"\r\n'
)


def test_rulers_template_file_is_stored_and_uploading_it_again_updates_it(api):
    # when: the template is uploaded through the document's own path and a worker runs the job
    def send() -> dict:
        response = api.post(
            f"/v1/{api.site.pk}/opportunity/upload/batch",
            {"file": csv_file(RULER_TEMPLATE, "opportunities.csv")},
            format="multipart",
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["jobId"]
        return wait_for(
            lambda: (
                (s := api.get(f"/v1/{api.site.pk}/batch/{job_id}/status").json())["status"]
                in ("complete", "partialcomplete", "failed")
                and s
            ),
            timeout=60,
        )

    worker = WorkerProcess()
    try:
        first = send()
        second = send()  # an export that overlaps the first one
    finally:
        worker.stop()

    # then: stored once, as the row says; the second upload updated it
    assert (first["status"], first["totalUploadedCount"], first["createdCount"], first["updatedCount"]) == (
        "complete", 1, 1, 0
    )  # fmt: skip
    assert (second["status"], second["createdCount"], second["updatedCount"]) == ("complete", 0, 1)
    opp = Opportunity.objects.get(site=api.site, external_id="REF-001")
    assert opp.occurred_at.isoformat() == "2024-01-15T00:00:00+00:00"
    assert (opp.amount, opp.currency, opp.stage.name, opp.labels) == (1000, "GBP", "Proposal", ["Deal"])
    assert opp.properties == {"Source": "Google"}
    contact = Contact.objects.get(site=api.site, email="example@email.com")
    assert (contact.phone, contact.visitor_id) == ("+441234567890", "ra-example-id")
    assert list(OpportunityContact.objects.filter(opportunity=opp).values_list("contact", flat=True)) == [contact.pk]
    successes = _csv(api.get(second["successFileUrl"]))
    assert successes[1][:5] == ["1", str(opp.uuid), "REF-001", "false", "updated"]
    assert successes[1][5:] == next(csv.reader(io.StringIO(RULER_TEMPLATE.split("\r\n", 1)[1])))
