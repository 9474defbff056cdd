"""Importing from the admin: upload into a draft (PostgreSQL), dry run, confirm into a sync; and
the sync page's rejects, paged and downloaded."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from entities.opportunities.models import Opportunity
from pipeline.models import ImportDefinition, StagedRow, StagedUpload, Sync
from pipeline.services.imports import imports_purge_expired
from tests.doors.admin.helpers import staff_user
from tests.doors.batch.helpers import csv_file
from tests.factories import ImportDefinitionFactory, SiteFactory, SyncFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db

FILE = (
    "OpportunityID,OpportunityName,Amount,Stage,Extra\r\n"
    "I-1,First,10,Prospecting,x\r\n"
    "I-2,Second,ten,Prospecting,y\r\n"
    "I-3,Third,3,Proposal,z\r\n"
)


@pytest.fixture
def staff(site):
    client = Client()
    client.force_login(staff_user(site))
    return client


def upload(client, **data):
    return client.post(reverse("admin:backoffice_import"), {"file": csv_file(FILE, "deals.csv"), **data})


def test_import_into_an_existing_definition_dry_run_then_confirm(site, staff, api):
    definition = ImportDefinitionFactory(site=site, name="Deals")
    # Upload: staged into an internal draft, nothing for the definition yet, invisible to the Bulk API.
    response = upload(staff, definition=definition.pk)
    assert response.status_code == 302
    draft = ImportDefinition.objects.get(is_internal=True, site=site)
    assert StagedRow.objects.filter(definition_id=draft.pk).count() == 3
    assert not StagedRow.objects.filter(definition_id=definition.pk).exists()
    assert api.get("/api/bulk/2.0/opportunities/imports").json()["totalResults"] == 1
    # Dry run: what would happen, row by row; nothing written.
    review = staff.get(response["Location"])
    assert review.status_code == 200
    result = review.context["result"]
    assert [(r.outcome, r.code) for r in result.rows] == [("create", None), ("reject", "ELQ-00032"), ("create", None)]
    assert not Opportunity.objects.filter(site=site).exists()
    assert not Sync.objects.exists()
    # Confirm: the rows move to the definition and its sync starts (once).
    confirmed = staff.post(response["Location"], {"definition": definition.pk, "action": "confirm"})
    sync = Sync.objects.get()
    assert confirmed["Location"] == reverse("admin:syncs_sync_change", args=[sync.pk])
    assert (sync.definition_id, sync.total_rows, sync.status) == (definition.pk, 3, "pending")
    assert StagedRow.objects.filter(definition_id=definition.pk).count() == 3
    assert StagedUpload.objects.get(definition=definition).sync_id == sync.pk
    assert not ImportDefinition.objects.filter(pk=draft.pk).exists()
    again = staff.post(response["Location"], {"definition": definition.pk, "action": "confirm"}, follow=True)
    assert "confirmed, discarded or has expired" in again.content.decode()
    assert Sync.objects.count() == 1


def test_import_with_a_new_definition_from_the_header(site, staff):
    response = upload(staff, entity="opportunity")
    review = staff.get(response["Location"])
    mapping = review.context["mapping"]
    suggested = {row.column: row.value for row in mapping["rows"]}
    assert suggested == {
        "OpportunityID": "{{Opportunity.Id}}",
        "OpportunityName": "{{Opportunity.Field(Name)}}",
        "Amount": "{{Opportunity.Field(Amount)}}",
        "Stage": "{{Opportunity.Field(Stage)}}",
        "Extra": "",
    }
    assert mapping["identifier"] == "OpportunityID"
    assert review.context["result"].created == 2  # the suggestion is dry-run straight away
    data = {f"map-{i}": row.value for i, row in enumerate(mapping["rows"])}
    data.update(name="Deals from file", identifier="OpportunityID", action="confirm")
    data["map-1"] = ""  # no Name: every new opportunity needs one, so the definition is refused
    refused = staff.post(response["Location"], data)
    assert refused.status_code == 200
    assert "Required field statement is missing." in " ".join(refused.context["errors"])
    assert {row.column: row.value for row in refused.context["mapping"]["rows"]}["OpportunityName"] == ""
    assert not ImportDefinition.objects.filter(name="Deals from file").exists()
    data["map-1"] = "{{Opportunity.Field(Name)}}"
    confirmed = staff.post(response["Location"], data)
    assert confirmed.status_code == 302
    definition = ImportDefinition.objects.get(name="Deals from file")
    assert definition.fields == [
        ["OpportunityID", "{{Opportunity.Id}}"],
        ["OpportunityName", "{{Opportunity.Field(Name)}}"],
        ["Amount", "{{Opportunity.Field(Amount)}}"],
        ["Stage", "{{Opportunity.Field(Stage)}}"],
    ]
    assert Sync.objects.get().definition == definition


def test_drafts_are_the_sites_own_and_expire(site, staff):
    response = upload(staff, entity="opportunity")
    draft = ImportDefinition.objects.get(is_internal=True)
    outsider = Client()
    outsider.force_login(staff_user(SiteFactory(), username="outsider"))
    page = outsider.get(response["Location"], follow=True)
    assert "confirmed, discarded or has expired" in page.content.decode()
    outsider.post(reverse("admin:backoffice_import_discard", args=[draft.pk]))
    assert ImportDefinition.objects.filter(pk=draft.pk).exists()
    # The retention task deletes a draft nobody confirmed, with its staged rows.
    ImportDefinition.objects.filter(pk=draft.pk).update(auto_delete_at=timezone.now() - timedelta(seconds=1))
    assert imports_purge_expired()["definitions"] == 1
    assert not StagedRow.objects.filter(definition_id=draft.pk).exists()


def test_discard_drops_the_draft_and_its_rows(site, staff):
    upload(staff, entity="opportunity")
    draft = ImportDefinition.objects.get(is_internal=True)
    staff.post(reverse("admin:backoffice_import_discard", args=[draft.pk]))
    assert not ImportDefinition.objects.filter(pk=draft.pk).exists()
    assert not StagedRow.objects.filter(definition_id=draft.pk).exists()


def test_confirm_while_a_sync_of_the_definition_runs_keeps_the_draft(site, staff):
    definition = ImportDefinitionFactory(site=site)
    SyncFactory(site=site, definition=definition, status="active")
    response = upload(staff, definition=definition.pk)
    page = staff.post(response["Location"], {"definition": definition.pk, "action": "confirm"}, follow=True)
    assert "already pending or active" in page.content.decode()
    assert ImportDefinition.objects.filter(is_internal=True).exists()
    assert Sync.objects.count() == 1


def test_a_file_that_is_not_utf8_is_a_form_error(site, staff):
    response = staff.post(
        reverse("admin:backoffice_import"), {"entity": "opportunity", "file": csv_file(b"Id,Name\r\n\xff\xfe,1\r\n")}
    )
    assert response.status_code == 200
    assert "UTF-8" in str(response.context["form"].errors)
    assert not ImportDefinition.objects.exists()


def test_sync_page_pages_its_rejects_and_downloads_them_neutralised(site, staff, user):
    definition = ImportDefinitionFactory(site=site)
    rows = [
        {"OpportunityID": f"R-{i}", "OpportunityName": "=cmd()", "Amount": "bad", "Stage": "Proposal"}
        for i in range(60)
    ]
    sync = run_sync(definition, rows, user=user)
    url = reverse("admin:syncs_sync_change", args=[sync.pk])
    first = staff.get(url)
    assert first.status_code == 200
    assert [r.record_index for r in first.context["rejects"]] == list(range(1, 51))
    second = staff.get(url + f"?after={first.context['rejects_next']}")
    assert [r.record_index for r in second.context["rejects"]] == list(range(51, 61))
    page = first.content.decode()
    assert "upto_id" not in page.split('id="bo-sync-summary"')[1].split("collapse")[0]  # internals collapsed
    download = staff.get(reverse("admin:syncs_sync_rejects_csv", args=[sync.pk]))
    assert download["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert table[0][:4] == ["RecordIndex", "StatusCode", "Message", "InvalidFields"]
    assert table[0][4:] == [k for k, _ in definition.fields]
    assert len(table) == 61
    assert table[1][:4] == ["1", "ELQ-00032", "Malformed records.", "Amount"]
    assert table[1][4:7] == ["R-0", "'=cmd()", ""]  # formula neutralised; absent values empty
    # Another site's staff: not found.
    outsider = Client()
    outsider.force_login(staff_user(SiteFactory(), username="outsider"))
    assert outsider.get(reverse("admin:syncs_sync_rejects_csv", args=[sync.pk])).status_code == 404
    assert outsider.get(reverse("admin:syncs_sync_progress") + f"?ids={sync.pk}").json() == {"syncs": []}


def test_cancel_and_retry_buttons_call_the_sync_services(site, staff):
    from pipeline.services import sync_start
    from tests.pipeline.helpers import stage

    definition = ImportDefinitionFactory(site=site)
    stage(
        definition,
        [{"OpportunityID": f"C-{i}", "OpportunityName": "c", "Amount": "1", "Stage": "Proposal"} for i in range(5)],
    )
    sync = sync_start(definition=definition, user=staff_user(site, username="starter"))
    page = staff.get(reverse("admin:syncs_sync_change", args=[sync.pk]))
    assert page.context["can_cancel"] and not page.context["can_retry"]
    assert staff.get(reverse("admin:syncs_sync_cancel", args=[sync.pk])).status_code == 405
    response = staff.post(reverse("admin:syncs_sync_cancel", args=[sync.pk]))
    assert response.status_code == 302
    sync.refresh_from_db()
    assert sync.status == "error" and sync.cancelled_by.endswith("\\staff")
    assert sync.rejects.filter(status_code="SRV-00101").count() == 5
    page = staff.get(reverse("admin:syncs_sync_change", args=[sync.pk]))
    assert not page.context["can_cancel"] and page.context["can_retry"]
    assert "Cancelled by" in page.content.decode()
    response = staff.post(reverse("admin:syncs_sync_retry", args=[sync.pk]))
    retry = Sync.objects.get(retry_of=sync)
    assert response["Location"] == reverse("admin:syncs_sync_change", args=[retry.pk])
    assert retry.total_rows == 5
    again = staff.post(reverse("admin:syncs_sync_retry", args=[sync.pk]), follow=True).content.decode()
    assert "Not retried" in again and "Already retried" in again


def test_a_batch_jobs_page_counts_created_and_updated_rows_apart(api):
    # given: a job whose file names one Reference the site has and one it has not
    from doors.batch.models import BatchJob
    from entities.opportunities.models import Stage
    from tests.doors.batch.helpers import rows_csv, upload
    from tests.pipeline.helpers import drive

    Opportunity.objects.create(
        site=api.site, external_id="KNOWN", name="x", stage=Stage.objects.for_site(api.site).first()
    )
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1,Proposal,a@example.com,known",
        "2024-05-01T10:00:00Z,GBP,2,Proposal,b@example.com,NEW",
    )
    job = BatchJob.objects.get(uuid=upload(api, text).json()["jobId"])
    drive(job.sync_id)
    client = Client()
    client.force_login(staff_user(api.site))
    # when
    page = client.get(reverse("admin:batches_batchjob_change", args=[job.pk]))
    # then
    assert page.status_code == 200
    assert "2 (created 1, updated 1) / 0 / 2" in page.content.decode()
