"""The Capillary door over HTTP: the document's example request and answer, its errors, tenancy."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from doors.batch.models import BatchJob
from doors.capillary.api.serializers import DOCUMENT_EXAMPLE
from doors.capillary.models import UploadJob
from entities.linkage.catalog import OPPORTUNITY_LINK
from pipeline.models import ImportDefinition, StagedRow, Sync
from tests.doors.capillary.helpers import path, rows_csv, series_for, upload

pytestmark = pytest.mark.django_db

ROWS = ("C-1,First,10,Proposal,USD,ann@example.com", "C-2,Second,20.5,Proposal,USD,bob@example.com")


def same_shape(answer, example, where="$"):
    """`answer` has exactly the example's members, in its order, each of the example's JSON type
    (a string or null where the document's value is null: the document's types say "String or null")."""
    if isinstance(example, dict):
        assert isinstance(answer, dict), where
        assert list(answer) == list(example), where
        for key in example:
            same_shape(answer[key], example[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(answer, list) and answer, where
        for i, item in enumerate(answer):
            same_shape(item, example[0], f"{where}[{i}]")
    elif example is None:
        assert answer is None or isinstance(answer, str), where
    else:
        assert type(answer) is type(example), f"{where}: {answer!r} is not a {type(example).__name__}"


@pytest.fixture
def series(site):
    return series_for(site)


def test_the_documents_example_request_gets_the_documents_answer(api, series, token):
    # given: the document's request as written: multipart, the token in x-cap-api-oauth-token
    client = APIClient()

    # when
    response = upload(client, series.pk, rows_csv(*ROWS), HTTP_X_CAP_API_OAUTH_TOKEN=token.raw)

    # then: the document's envelope, member for member and type for type
    assert response.status_code == 200, response.content
    body = response.json()
    same_shape(body, DOCUMENT_EXAMPLE)
    assert (body["success"], body["status"]) == (True, 200)
    result = body["result"]
    assert (result["orgId"], result["couponSeriesId"]) == (api.site.pk, series.pk)
    (job,) = result["uploadJobStatuses"]
    assert re.fullmatch(rf"couponbatchupload_\d{{13}}_{series.pk}\.csv", result["fileName"])
    assert job["uploadedFileUrl"] == result["fileName"]
    assert job["uploadedFileName"] == "couponbatchupload.csv"
    assert job["uploadStatus"] == "STARTED"
    assert re.fullmatch(r"\d{13}", job["createdOn"]) and job["updatedOn"] >= job["createdOn"]
    assert (job["errorFileUrl"], job["successFileUrl"], job["uploadTableName"]) == (None, None, None)
    assert (job["actualRowCount"], job["totalUploadedCount"], job["errorCount"]) == (2, 0, 0)
    assert (job["audienceGroupId"], job["audienceGroupVersionId"]) == (0, 0)
    # and the pipeline has it: a pending sync of an internal copy of the series, the file staged for
    # it and for the linkage of its customers
    saved = UploadJob.objects.get(pk=job["jobId"])
    assert saved.series_id == series.pk and saved.site_id == api.site.pk
    copy = saved.batch_job.definition
    assert copy.is_internal and copy.fields == series.fields and copy.pk != series.pk
    assert saved.batch_job.sync.status == "pending"
    assert StagedRow.objects.filter(definition_id=copy.pk).count() == 2
    assert StagedRow.objects.filter(definition_id=saved.link_definition_id).count() == 2
    assert not StagedRow.objects.filter(definition_id=series.pk).exists()


def test_get_lists_the_series_jobs_newest_first_in_the_same_shape(api, series):
    # given
    first = upload(api, series.pk, rows_csv(*ROWS)).json()["result"]["uploadJobStatuses"][0]["jobId"]
    second = upload(api, series.pk, rows_csv(ROWS[0]), identifier="NOT_TAGGED", column=None).json()
    second_id = second["result"]["uploadJobStatuses"][0]["jobId"]

    # when
    response = api.get(path(series.pk))

    # then
    assert response.status_code == 200
    body = response.json()
    same_shape(body, DOCUMENT_EXAMPLE)
    assert [j["jobId"] for j in body["result"]["uploadJobStatuses"]] == [second_id, first]
    assert body["result"]["fileName"] == second["result"]["fileName"]
    assert UploadJob.objects.get(pk=second_id).link_definition is None  # NOT_TAGGED links nothing


def test_get_of_a_series_without_jobs(api, series):
    body = api.get(path(series.pk)).json()
    assert body["result"]["uploadJobStatuses"] == [] and body["result"]["fileName"] is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"customerIdentifier": "EMAIL", "customerIdentifierColumn": "email"}, "file"),
        ({"customerIdentifier": "PHONE", "customerIdentifierColumn": "email"}, "customerIdentifier"),
        ({"customerIdentifierColumn": "email"}, "customerIdentifier"),
        ({"customerIdentifier": "EMAIL"}, "customerIdentifierColumn"),
        ({"customerIdentifier": "EMAIL", "customerIdentifierColumn": "mail"}, "customerIdentifierColumn"),
        ({"customerIdentifier": "EMAIL", "customerIdentifierColumn": "OpportunityID"}, "customerIdentifierColumn"),
    ],
)
def test_bad_forms_are_refused_in_the_envelope_naming_the_field(api, series, form, field):
    # given
    from tests.doors.capillary.helpers import csv_file

    if field != "file":
        form = {**form, "file": csv_file(rows_csv(*ROWS))}

    # when
    response = api.post(path(series.pk), form, format="multipart")

    # then
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["success"], body["status"]) == (False, 400)
    assert body["message"] and body["code"]
    assert field in [e["field"] for e in body["errors"]]
    assert not UploadJob.objects.exists() and not BatchJob.objects.exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b"OpportunityID,email\r\n\xff\xfe,a@example.com\r\n", "file"),  # not UTF-8
        ('OpportunityID,OpportunityName,email\r\nC-1,"unterminated,a@example.com\r\n', "file"),  # a bad quote
        ("OpportunityID,email\r\n", "file"),  # no data rows
        ("OpportunityName,email\r\nx,a@example.com\r\n", "file"),  # no identifier column
        ("OpportunityID,email\r\nC-1,a@example.com,extra\r\n", "file"),  # a ragged row
        ("OpportunityID,email\r\nC-\x001,a@example.com\r\n", "OpportunityID"),  # NUL: the column is named
    ],
)
def test_bad_csv_is_refused_and_nothing_is_stored(api, series, text, field):
    # when
    response = upload(api, series.pk, text)

    # then
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["status"] == 400 and body["errors"]
    assert body["errors"][0]["field"] == field
    assert not UploadJob.objects.exists() and not BatchJob.objects.exists() and not Sync.objects.exists()
    assert not ImportDefinition.objects.filter(is_internal=True).exists()
    assert not StagedRow.objects.exists()


def test_another_sites_series_is_a_404_and_nothing_is_staged(other_api, series):
    response = upload(other_api, series.pk, rows_csv(*ROWS))
    assert response.status_code == 404
    assert response.json()["success"] is False and response.json()["status"] == 404
    assert other_api.get(path(series.pk)).status_code == 404
    assert not StagedRow.objects.exists()


def test_a_non_opportunity_definition_is_not_a_series(api, site):
    contacts = series_for(site)
    contacts.entity = "contact"
    contacts.save()
    assert upload(api, contacts.pk, rows_csv(*ROWS)).status_code == 404


def test_a_bad_token_in_the_capillary_header_is_a_401_in_the_envelope(series):
    response = APIClient().get(path(series.pk), HTTP_X_CAP_API_OAUTH_TOKEN="nope")
    assert response.status_code == 401
    assert response.json()["success"] is False and response.json()["status"] == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_files_are_a_409_until_the_job_has_ended_and_scoped_to_the_site(api, other_api, series):
    job_id = upload(api, series.pk, rows_csv(*ROWS)).json()["result"]["uploadJobStatuses"][0]["jobId"]
    response = api.get(f"{path(series.pk)}/jobs/{job_id}/errors.csv")
    assert response.status_code == 409 and response.json()["success"] is False
    assert other_api.get(f"{path(series.pk)}/jobs/{job_id}/errors.csv").status_code == 404


@pytest.mark.parametrize(
    ("identifier", "statement"),
    [
        ("EMAIL", "{{Opportunity.Contact.Field(C_EmailAddress)}}"),
        ("MOBILE", "{{Opportunity.Contact.Field(C_BusPhone)}}"),
        ("EXTERNAL_ID", "{{Opportunity.Contact.Field(ContactIDExt)}}"),
    ],
)
def test_each_customer_identifier_links_by_its_contact_field(api, series, identifier, statement):
    # when
    body = upload(api, series.pk, rows_csv(*ROWS), identifier=identifier).json()

    # then: a linkage import of the file's (identifier, customer) pairs, by that contact field
    link = UploadJob.objects.get(pk=body["result"]["uploadJobStatuses"][0]["jobId"]).link_definition
    assert link.is_internal and link.entity == OPPORTUNITY_LINK.entity
    assert link.fields == [["OpportunityID", "{{Opportunity.Id}}"], ["email", statement]]
    assert (link.link_match_field_name, link.link_source_field) == ("OpportunityID", "email")


def test_listing_jobs_costs_as_many_queries_for_three_jobs_as_for_one(api, series):
    # given
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(path(series.pk)).status_code == 200
        return len(captured)

    upload(api, series.pk, rows_csv(*ROWS))
    api.get(path(series.pk))  # the token's last use is written once a minute at most
    one = queries()

    # when
    upload(api, series.pk, rows_csv(*ROWS))
    upload(api, series.pk, rows_csv(*ROWS), identifier="NOT_TAGGED", column=None)

    # then
    assert queries() == one
