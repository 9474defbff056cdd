"""`POST /syncs/{id}/retry` on both sides of its rules: a sync that ended in error (a failure, not
only a cancel) is retried over exactly the rows it did not process, with whatever was staged
since; one retry per sync, even when two race on real connections; and each refusal is a 409 (or
404) whose body names why."""

import psycopg
import pytest

from entities.opportunities.models import Opportunity
from pipeline.models import Reject, StagedUpload, Sync
from pipeline.services import sync_fail
from tests.concurrency import Racer, conninfo
from tests.conftest import bearer
from tests.factories import ImportDefinitionFactory, SyncFactory, TokenFactory
from tests.pipeline.helpers import drive, run_sync, stage, staged_sync

pytestmark = pytest.mark.django_db


def row(i, **kw):
    return {"OpportunityID": f"N{i}", "OpportunityName": f"Deal {i}", "Amount": str(i), "Stage": "Proposal", **kw}


def retry_url(sync) -> str:
    return f"/api/bulk/2.0/syncs/{sync.pk}/retry"


def failed_sync(site, settings, rows=12):
    """A sync that ended in `error` (a bug, not a cancel) after one chunk of 5 rows, one of them
    malformed (record 2): 7 rows were not processed."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 5, 1
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i, Amount="bad" if i == 2 else str(i)) for i in range(1, rows + 1)])
    drive(sync.pk, chunks=1)
    sync_fail(sync_id=sync.pk, reason="RuntimeError: a bug")
    sync.refresh_from_db()
    assert sync.status == "error" and sync.processed == rows
    return sync


def refusal(response) -> tuple:
    body = response.json()
    return response.status_code, body["code"], body["failures"][0]["field"], body["failures"][0]["constraint"]


def test_a_sync_that_failed_is_retried_over_the_rows_it_did_not_reach_and_those_staged_since(site, settings, api):
    sync = failed_sync(site, settings)
    not_reached = set(Reject.objects.filter(sync=sync, status_code="SRV-00100").values_list("record_index", flat=True))
    assert not_reached == set(range(6, 13))
    stage(sync.definition, [row(20), row(21)])  # staged after the failure

    response = api.post(retry_url(sync))

    assert response.status_code == 201, response.json()
    retry = Sync.objects.get(pk=int(response.json()["uri"].rsplit("/", 1)[1]))
    assert retry.retry_of_id == sync.pk and retry.total_rows == 7 + 2
    drive(retry.pk)
    retry.refresh_from_db()
    assert (retry.status, retry.created_count, retry.rejected) == ("success", 9, 0)
    stored = set(Opportunity.objects.filter(site=site).values_list("external_id", flat=True))
    # the malformed row 2 is not retried (only rows not processed are): it stays a reject of the first
    assert stored == {f"N{i}" for i in (1, 3, 4, 5, *range(6, 13), 20, 21)}


def test_each_refusal_is_a_409_naming_why(site, settings, api, other_api):
    sync = failed_sync(site, settings)
    assert api.post(retry_url(sync)).status_code == 201
    # retried already
    assert refusal(api.post(retry_url(sync)))[:3] == (409, "conflict", "sync")
    assert refusal(api.post(retry_url(sync)))[3] == f"Already retried by {Sync.objects.get(retry_of=sync).uri}."
    # not ended in error: running (the retry just made), success, warning
    running = Sync.objects.get(retry_of=sync)
    only_error = (409, "conflict", "sync", "Only a sync that ended in error can be retried.")
    assert refusal(api.post(retry_url(running))) == only_error
    drive(running.pk)
    assert refusal(api.post(retry_url(running))) == only_error
    warned = run_sync(ImportDefinitionFactory(site=site), [row(1, Amount="bad"), row(2)])
    assert warned.status == "warning" and refusal(api.post(retry_url(warned))) == only_error
    # nothing left to retry: an errored sync that processed every row
    empty = staged_sync(ImportDefinitionFactory(site=site))
    sync_fail(sync_id=empty.pk, reason="a bug")
    assert refusal(api.post(retry_url(empty))) == (
        409, "conflict", "sync", "The sync has no unprocessed rows to retry.",
    )  # fmt: skip
    # another sync of the definition is running
    second = failed_sync(site, settings)
    SyncFactory(site=site, definition=second.definition, status="pending")
    assert refusal(api.post(retry_url(second)))[:3] == (409, "conflict", "syncedInstanceUri")
    assert not Sync.objects.filter(retry_of=second).exists()
    # its definition is internal (an admin draft or a batch job: retried another way)
    internal = failed_sync(site, settings)
    internal.definition.is_internal = True
    internal.definition.save(update_fields=["is_internal"])
    assert refusal(api.post(retry_url(internal)))[3].startswith("Its import definition no longer exists")
    # another site's sync, and no sync at all
    other = other_api.post(retry_url(failed_sync(site, settings)))
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    assert api.post("/api/bulk/2.0/syncs/999999999/retry").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_retries_racing_make_one_retry(site, settings, api):
    """Two real requests retry one sync at once, each on its own connection: the first holds the
    sync's row while it waits (an upload in flight holds the definition), the second waits for that
    row, then finds the retry made and is refused; one retry, its rows staged once."""
    sync = failed_sync(site, settings)
    token = TokenFactory(user=api.user).raw

    def retry():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(**bearer(token))
        return client.post(retry_url(sync))

    upload = psycopg.connect(conninfo())
    upload.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR SHARE", [sync.definition_id])
    try:
        first = Racer(retry)
        first.wait_until_blocked()  # holds the sync's row, waits for the definition
        second = Racer(retry)
        second.wait_until_blocked()  # waits for the sync's row
    finally:
        upload.rollback()
        upload.close()
    answers = sorted([first.join(), second.join()], key=lambda r: r.status_code)

    assert [r.status_code for r in answers] == [201, 409]
    made = Sync.objects.get(retry_of=sync)
    assert answers[0].json()["uri"] == made.uri
    assert refusal(answers[1]) == (409, "conflict", "sync", f"Already retried by {made.uri}.")
    assert (
        made.total_rows == 7
        and StagedUpload.objects.filter(definition=sync.definition, content_type="retry").count() == 1
    )
