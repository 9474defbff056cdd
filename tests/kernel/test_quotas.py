"""Per-site storage quotas (pipeline.quotas): staged rows and bytes, stored batch files, rejects.

Each quota both ways: under it the write passes; past it the write is refused whole (413 when the
request does not fit in the room left, 507 when the site is full already), with a body naming the
quota, its limit and the use, and nothing of the refused request is stored."""

from __future__ import annotations

import io
import json

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from doors.batch.models import BatchFile, BatchJob
from entities.opportunities.models import Opportunity
from kernel.exceptions import QuotaExceeded
from pipeline.models import ImportDefinition, StagedRow, StagedUpload, Sync, SyncStatus
from pipeline.quotas import Quota, site_usage
from pipeline.services import sync_start
from pipeline.staging import staged_rows_load_csv, staged_rows_load_json
from tests.doors.admin.helpers import form_data, grant, staff_user, superuser
from tests.doors.batch.helpers import csv_file, rows_csv
from tests.doors.batch.helpers import upload as batch_upload
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import drive, run_sync, stage

pytestmark = pytest.mark.django_db

SYNCS = "/api/bulk/2.0/syncs"


@pytest.fixture
def definition(api):
    return ImportDefinitionFactory(site=api.site)


def data_url(definition) -> str:
    return f"/api/bulk/2.0/opportunities/imports/{definition.pk}/data"


def csv_rows(n: int, start: int = 1) -> str:
    lines = ["OpportunityID,OpportunityName,Amount,Stage"]
    lines += [f"{i},Deal {i},{i}0,Proposal" for i in range(start, start + n)]
    return "\n".join(lines) + "\n"


def post_csv(api, definition, text: str, **headers):
    return api.generic("POST", data_url(definition), text.encode(), content_type="text/csv", **headers)


def post_json(api, definition, rows: list[dict]):
    return api.generic("POST", data_url(definition), json.dumps(rows), content_type="application/json")


def set_quotas(site, **quotas) -> None:
    for name, value in quotas.items():
        setattr(site, f"quota_{name}", value)
    site.save()


def refusal(response, status: int, quota: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert body["message"] == "Storage space exceeded."  # Eloqua's text for a full staging area
    assert body["failures"][0]["field"] == quota
    assert body["quota"]["name"] == quota
    return body["quota"]


def staged_count(definition) -> int:
    return StagedRow.objects.filter(definition=definition).count()


# --- staged rows ---------------------------------------------------------------------------------


def test_staged_rows_under_the_quota_pass_and_past_it_are_refused_whole(api, definition):
    # given: a site that may keep 5 staged rows
    set_quotas(api.site, staged_rows=5)
    assert post_csv(api, definition, csv_rows(3)).status_code == 204
    # when: 3 more would make 6
    quota = refusal(post_csv(api, definition, csv_rows(3, start=4)), 413, "stagedRows")
    # then: the body says why; not a row of it is staged
    assert quota == {"name": "stagedRows", "limit": 5, "used": 3, "requested": 3}
    assert staged_count(definition) == 3 and StagedUpload.objects.filter(definition=definition).count() == 1
    # 2 fit exactly; then the site is full and any upload is a 507 before its body is read
    assert post_csv(api, definition, csv_rows(2, start=4)).status_code == 204
    assert refusal(post_csv(api, definition, csv_rows(1, start=6)), 507, "stagedRows") == {
        "name": "stagedRows",
        "limit": 5,
        "used": 5,
    }
    assert staged_count(definition) == 5


def test_a_json_upload_is_stopped_at_the_first_row_past_the_room(api, definition):
    set_quotas(api.site, staged_rows=4)
    rows = [{"OpportunityID": str(i), "OpportunityName": "x", "Amount": "1", "Stage": "Proposal"} for i in range(10)]
    quota = refusal(post_json(api, definition, rows), 413, "stagedRows")
    assert quota == {"name": "stagedRows", "limit": 4, "used": 0, "requested": 5}  # at least 5: it stopped there
    assert staged_count(definition) == 0
    assert post_json(api, definition, rows[:4]).status_code == 204


def test_a_sync_frees_the_room_of_the_rows_it_took(api, definition):
    # given: a full site
    set_quotas(api.site, staged_rows=3)
    assert post_csv(api, definition, csv_rows(3)).status_code == 204
    assert post_csv(api, definition, csv_rows(1, start=4)).status_code == 507
    # when: a sync takes the rows and ends
    response = api.post(SYNCS, {"syncedInstanceUri": definition.uri}, format="json")
    assert response.status_code == 201
    sync_id = int(response.json()["uri"].rsplit("/", 1)[1])
    assert site_usage(api.site.pk).of(Quota.STAGED_ROWS) == 3  # counted until the sync ends
    drive(sync_id)
    # then
    assert Sync.objects.get(pk=sync_id).status == SyncStatus.SUCCESS
    assert site_usage(api.site.pk).of(Quota.STAGED_ROWS) == 0
    assert post_csv(api, definition, csv_rows(3, start=4)).status_code == 204


def test_the_default_comes_from_settings_and_a_site_may_override_it(api, definition):
    with override_settings(SITE_QUOTA_STAGED_ROWS=2):
        assert refusal(post_csv(api, definition, csv_rows(3)), 413, "stagedRows")["limit"] == 2
        set_quotas(api.site, staged_rows=0)  # this site: no limit
        assert post_csv(api, definition, csv_rows(3)).status_code == 204
        set_quotas(api.site, staged_rows=None)  # the default again
        assert post_csv(api, definition, csv_rows(1, start=4)).status_code == 507


def test_quotas_are_per_site(api, other_api, definition):
    set_quotas(api.site, staged_rows=1)
    assert post_csv(api, definition, csv_rows(1)).status_code == 204
    theirs = ImportDefinitionFactory(site=other_api.site)
    assert post_csv(other_api, theirs, csv_rows(5)).status_code == 204  # the default, far away
    assert post_csv(api, definition, csv_rows(1, start=2)).status_code == 507


# --- staged bytes --------------------------------------------------------------------------------


def test_staged_bytes_past_the_room_are_refused_by_content_length(api, definition):
    first, second = csv_rows(2), csv_rows(2, start=3)
    set_quotas(api.site, staged_bytes=len(first) + len(second) - 1)
    assert post_csv(api, definition, first).status_code == 204
    quota = refusal(post_csv(api, definition, second), 413, "stagedBytes")
    limit = len(first) + len(second) - 1
    assert quota == {"name": "stagedBytes", "limit": limit, "used": len(first), "requested": len(second)}
    assert staged_count(definition) == 2


@pytest.mark.parametrize("load", [staged_rows_load_csv, staged_rows_load_json], ids=["csv", "json"])
def test_a_body_without_a_length_is_stopped_once_it_passes_the_room(site, load):
    # given: a chunked body (no Content-Length) larger than the room
    definition = ImportDefinitionFactory(site=site)
    set_quotas(site, staged_bytes=100_000)
    if load is staged_rows_load_csv:
        raw = csv_rows(20_000).encode()
    else:
        raw = json.dumps([{"OpportunityID": str(i), "OpportunityName": "x" * 20} for i in range(20_000)]).encode()
    # when
    with pytest.raises(QuotaExceeded) as refused:
        load(definition=definition, stream=io.BytesIO(raw), content_length=None)
    # then: it stopped reading past the room (the body was 10 times larger), staged nothing
    assert refused.value.status_code == 413
    quota = refused.value.extra["quota"]
    assert quota["name"] == "stagedBytes" and 100_000 < quota["requested"] < len(raw) / 2
    assert staged_count(definition) == 0 and not StagedUpload.objects.filter(definition=definition).exists()


def test_a_full_site_is_refused_before_its_body_is_read(site):
    definition = ImportDefinitionFactory(site=site)
    set_quotas(site, staged_bytes=16)
    staged_rows_load_csv(definition=definition, stream=io.BytesIO(b"OpportunityID\n1\n"), content_length=16)

    class Unread(io.RawIOBase):
        def read(self, size=-1):
            raise AssertionError("the body was read")

    with pytest.raises(QuotaExceeded) as refused:
        staged_rows_load_csv(definition=definition, stream=Unread(), content_length=1000)
    assert refused.value.status_code == 507 and refused.value.extra["quota"]["used"] == 16


# --- batch files ---------------------------------------------------------------------------------

BATCH_ROW = "2024-05-01T10:00:00Z,GBP,1200.50,Proposal,{ref}@example.com,{ref}"


def batch_file(*refs: str) -> str:
    return rows_csv(*(BATCH_ROW.format(ref=r) for r in refs))


def assert_no_new_job(site, jobs_before: int) -> None:
    assert BatchJob.objects.filter(site=site).count() == jobs_before
    assert ImportDefinition.objects.filter(site=site, entity="opportunity_batch").count() == jobs_before
    assert not StagedRow.objects.filter(definition__site=site).exists()


def test_stored_batch_files_under_the_quota_pass_and_past_it_are_refused(api):
    first, second = batch_file("A-1"), batch_file("B-1", "B-2")
    set_quotas(api.site, batch_file_bytes=len(first) + len(second) - 1)
    # under: a job, its file kept
    response = batch_upload(api, first)
    assert response.status_code == 202
    job = BatchJob.objects.get(uuid=response.json()["jobId"])
    drive(job.sync_id)
    assert BatchFile.objects.filter(job=job).exists()
    # over: 413 naming the quota, and no job, definition or staged row
    quota = refusal(batch_upload(api, second), 413, "batchFileBytes")
    assert quota == {
        "name": "batchFileBytes",
        "limit": len(first) + len(second) - 1,
        "used": len(first),
        "requested": len(second),
    }
    assert_no_new_job(api.site, 1)
    # full: 507, before the file is checked
    set_quotas(api.site, batch_file_bytes=len(first))
    assert refusal(batch_upload(api, batch_file("C-1")), 507, "batchFileBytes")["used"] == len(first)
    assert_no_new_job(api.site, 1)


def test_an_idempotent_retry_is_replayed_even_once_the_site_is_full(api):
    """A quota refuses new work, never the stored answer to work already done."""
    text = batch_file("A-1")
    url = f"/api/v1/{api.site.pk}/opportunity/upload/batch"
    first = api.post(url, {"file": csv_file(text)}, format="multipart", HTTP_IDEMPOTENCY_KEY="batch-a1")
    assert first.status_code == 202
    set_quotas(api.site, batch_file_bytes=len(text))  # full now
    again = api.post(url, {"file": csv_file(text)}, format="multipart", HTTP_IDEMPOTENCY_KEY="batch-a1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert refusal(batch_upload(api, batch_file("B-1")), 507, "batchFileBytes")["used"] == len(text)


def test_a_batch_file_with_more_rows_than_the_staging_room_is_refused(api):
    set_quotas(api.site, staged_rows=2)
    quota = refusal(batch_upload(api, batch_file("A-1", "A-2", "A-3")), 413, "stagedRows")
    assert quota == {"name": "stagedRows", "limit": 2, "used": 0, "requested": 3}
    assert_no_new_job(api.site, 0)
    assert batch_upload(api, batch_file("A-1", "A-2")).status_code == 202


# --- rejects -------------------------------------------------------------------------------------

BAD = {"OpportunityID": "", "OpportunityName": "no id", "Amount": "1", "Stage": "Proposal"}


def rejected_sync(site, rejects: int) -> Sync:
    """A finished sync of the site with `rejects` rejected rows (a real sync of rows with no id)."""
    sync = run_sync(ImportDefinitionFactory(site=site), [BAD] * rejects)
    assert sync.rejected == rejects
    return sync


def test_rejects_under_the_quota_pass_and_at_it_refuse_new_syncs_and_uploads(api, definition):
    # given: a site that may keep 3 rejected rows, and 2 of them
    set_quotas(api.site, rejects=3)
    rejected_sync(api.site, 2)
    assert post_csv(api, definition, csv_rows(1)).status_code == 204
    assert api.post(SYNCS, {"syncedInstanceUri": definition.uri}, format="json").status_code == 201
    # when: another sync brings them to 3
    rejected_sync(api.site, 1)
    # then: a new sync, an upload and a batch upload are all refused (507), naming the quota
    other = ImportDefinitionFactory(site=api.site)
    quota = refusal(api.post(SYNCS, {"syncedInstanceUri": other.uri}, format="json"), 507, "rejects")
    assert quota == {"name": "rejects", "limit": 3, "used": 3}
    refusal(post_csv(api, other, csv_rows(1)), 507, "rejects")
    refusal(batch_upload(api, batch_file("A-1")), 507, "rejects")
    assert staged_count(other) == 0 and not Sync.objects.filter(definition=other).exists()


def test_a_sync_that_passes_the_rejects_quota_is_never_stopped_midway(site, user):
    # given: room for 1 more rejected row, and rows staged for a second import
    set_quotas(site, rejects=1)
    later = ImportDefinitionFactory(site=site)
    stage(later, [BAD])
    # when: a sync that started under the quota rejects 5 rows in 3 chunks
    with override_settings(BULK_SYNC_CHUNK_ROWS=2, BULK_SYNC_LANES=1):
        sync = run_sync(ImportDefinitionFactory(site=site), [BAD] * 5)
    # then: it finished with every reject; only the next sync is refused, when it starts
    assert sync.status == SyncStatus.WARNING and sync.rejected == 5 and sync.rejects.count() == 5
    with pytest.raises(QuotaExceeded) as refused:
        sync_start(definition=later, user=user)
    assert refused.value.status_code == 507 and refused.value.extra["quota"] == {
        "name": "rejects",
        "limit": 1,
        "used": 5,
    }
    assert not Sync.objects.filter(definition=later).exists() and staged_count(later) == 1


# --- what the quotas leave alone ------------------------------------------------------------------


def test_deal_upserts_store_none_of_the_quotas_and_are_not_refused(api, definition):
    set_quotas(api.site, staged_rows=1)
    assert post_csv(api, definition, csv_rows(1)).status_code == 204  # the site is full
    response = api.post(
        "/api/v1/deals",
        {
            "deals": [
                {"externalDealId": "deal-1", "name": "Acme", "amount": 10, "stageId": "s", "stageLabel": "Proposal"}
            ]
        },
        format="json",
    )
    assert response.status_code == 200 and response.json()["summary"]["upserted"] == 1
    assert Opportunity.objects.filter(site=api.site, external_id="deal-1").exists()


# --- concurrency ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_uploads_racing_for_the_last_room_cannot_both_get_it(currencies):
    """The commit check takes a per-site lock: the second upload waits for the first to commit,
    then counts its rows."""
    from tests.concurrency import Racer
    from tests.factories import SiteFactory

    site = SiteFactory()
    set_quotas(site, staged_rows=3)
    first_def, second_def = ImportDefinitionFactory(site=site), ImportDefinitionFactory(site=site)
    result: dict = {}

    def second() -> str | int:
        try:
            staged_rows_load_csv(definition=second_def, stream=io.BytesIO(csv_rows(2).encode()), content_length=None)
            return "staged"
        except QuotaExceeded as exc:
            return exc.status_code

    # given: the first upload of 2 rows holds the quota lock, uncommitted
    def first_commits_later(upload) -> None:
        result["second"] = Racer(second)
        result["second"].wait_until_blocked()  # the second one waits on the site's quota lock

    staged_rows_load_csv(
        definition=first_def,
        stream=io.BytesIO(csv_rows(2).encode()),
        content_length=None,
        before_commit=first_commits_later,
    )
    # then: the second saw the first's 2 rows and was refused (2 + 2 > 3); 2 rows are staged
    assert result["second"].join() == 413
    assert StagedRow.objects.filter(definition__site=site).count() == 2
    with transaction.atomic():
        assert site_usage(site.pk).of(Quota.STAGED_ROWS) == 2


# --- the admin -----------------------------------------------------------------------------------


def test_only_a_superuser_sets_a_sites_quotas_and_the_admin_shows_the_use(site):
    url = reverse("admin:bulkapi_site_change", args=[site.pk])
    # a site's staff, even allowed to change their site: the quotas are read-only to them
    member = staff_user(site)
    grant(member, "change_site", "view_site")
    staff = Client()
    staff.force_login(member)
    page = staff.get(url)
    assert page.status_code == 200 and "storage use (used / limit)" in page.content.decode().lower()
    assert "quota_staged_rows" not in page.context["adminform"].form.fields
    data = form_data(page)
    data["quota_staged_rows"] = "999999999"
    assert staff.post(url, data).status_code == 302
    site.refresh_from_db()
    assert site.quota_staged_rows is None
    # a superuser sets it
    root = Client()
    root.force_login(superuser())
    data = form_data(root.get(url))
    data["quota_staged_rows"] = "7"
    assert root.post(url, data).status_code == 302
    site.refresh_from_db()
    assert site.quota_staged_rows == 7
    assert f"{Quota.STAGED_ROWS.value}: 0 / 7" in root.get(url).content.decode()
