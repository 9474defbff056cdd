"""A Capillary upload on a real Celery worker: the opportunity sync, then the linkage sync of the
customers, polled through GET until done; counts, links by e-mail, and both result files."""

import csv
import io

import pytest

from doors.capillary.models import UploadJob
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity
from pipeline.models import Sync
from tests.conftest import WorkerProcess, wait_for
from tests.doors.capillary.helpers import path, rows_csv, series_for, upload
from tests.entities.contacts.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

ENDED = ("COMPLETED", "PARTIALLY_COMPLETED", "FAILED")
ROWS = [
    "CAP-1,First,10,Proposal,USD,Ann@Example.com",  # the contact's e-mail in another letter case
    "CAP-2,Second,20.5,Proposal,USD,bob@example.com",
    "CAP-3,Third,not-a-number,Proposal,USD,ann@example.com",  # refused by the sync
    "CAP-4,Fourth,40,Negotiation,USD,nobody@example.com",  # stored; no such contact, so no link
]


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _ended(api, series_id):
    def poll():
        body = api.get(path(series_id)).json()
        job = body["result"]["uploadJobStatuses"][0]
        return job["uploadStatus"] in ENDED and job

    return wait_for(poll, timeout=90)


def test_upload_polled_to_the_end_stores_links_by_email_and_lists_bad_rows(api):
    # given: a series and two of the site's contacts
    series = series_for(api.site)
    ann = ContactFactory(site=api.site, email="ann@example.com")
    bob = ContactFactory(site=api.site, email="bob@example.com")
    response = upload(api, series.pk, rows_csv(*ROWS))
    assert response.status_code == 200, response.content
    assert response.json()["result"]["uploadJobStatuses"][0]["uploadStatus"] == "STARTED"

    # when: a worker runs the job
    worker = WorkerProcess()
    try:
        job = _ended(api, series.pk)
    finally:
        worker.stop()

    # then: the counts
    assert job["uploadStatus"] == "PARTIALLY_COMPLETED"
    assert (job["actualRowCount"], job["totalUploadedCount"], job["errorCount"]) == (4, 3, 1)
    assert int(job["updatedOn"]) >= int(job["createdOn"])
    # the opportunities, linked to the contacts their rows name (by e-mail, any letter case)
    stored = dict(Opportunity.objects.filter(site=api.site).values_list("external_id", "id"))
    assert set(stored) == {"CAP-1", "CAP-2", "CAP-4"}
    links = set(OpportunityContact.objects.filter(site=api.site).values_list("opportunity_id", "contact_id"))
    assert links == {(stored["CAP-1"], ann.pk), (stored["CAP-2"], bob.pk)}
    saved = UploadJob.objects.get(pk=job["jobId"])
    link_sync = Sync.objects.get(pk=saved.link_sync_id)
    assert link_sync.status == "warning" and link_sync.rejected == 2  # CAP-3 has no opportunity, CAP-4 no contact
    # the error file: the bad row, its reason and its own cells
    errors = _csv(api.get(job["errorFileUrl"]))
    assert errors[0] == ["RowNumber", "ErrorCode", "ErrorField", "ErrorMessage", *rows_csv().strip().split(",")]
    assert len(errors) == 2
    assert errors[1][0] == "3" and errors[1][2] == "Amount" and errors[1][4:] == ROWS[2].split(",")
    # the success file: every stored row and its opportunity
    successes = _csv(api.get(job["successFileUrl"]))
    assert [r[0] for r in successes[1:]] == ["1", "2", "4"]
    assert [r[2] for r in successes[1:]] == ["CAP-1", "CAP-2", "CAP-4"]
    by_ref = dict(Opportunity.objects.filter(site=api.site).values_list("external_id", "uuid"))
    assert successes[1][1] == str(by_ref["CAP-1"])


def test_not_tagged_ends_complete_without_a_linkage_sync(api):
    # given
    series = series_for(api.site)
    ContactFactory(site=api.site, email="ann@example.com")
    response = upload(api, series.pk, rows_csv(ROWS[0]), identifier="NOT_TAGGED", column=None)
    assert response.status_code == 200, response.content

    # when
    worker = WorkerProcess()
    try:
        job = _ended(api, series.pk)
    finally:
        worker.stop()

    # then
    assert job["uploadStatus"] == "COMPLETED"
    assert (job["actualRowCount"], job["totalUploadedCount"], job["errorCount"]) == (1, 1, 0)
    assert UploadJob.objects.get(pk=job["jobId"]).link_sync_id is None
    assert not OpportunityContact.objects.exists()
    assert len(_csv(api.get(job["errorFileUrl"]))) == 1  # the header only


def test_external_id_links_by_the_contacts_external_id(api):
    # given: a contact known by its id in the customer's own system
    series = series_for(api.site)
    carol = ContactFactory(site=api.site, email="carol@example.com", external_id="CUST-9")
    text = rows_csv(
        "CAP-9,Ninth,90,Proposal,USD,CUST-9", header="OpportunityID,OpportunityName,Amount,Stage,Currency,customer"
    )
    response = upload(api, series.pk, text, identifier="EXTERNAL_ID", column="customer")
    assert response.status_code == 200, response.content

    # when
    worker = WorkerProcess()
    try:
        job = _ended(api, series.pk)
    finally:
        worker.stop()

    # then
    assert job["uploadStatus"] == "COMPLETED"
    opportunity = Opportunity.objects.get(site=api.site, external_id="CAP-9")
    assert set(OpportunityContact.objects.values_list("opportunity_id", "contact_id")) == {(opportunity.pk, carol.pk)}
