"""`Idempotency-Key` on data uploads, `POST /syncs`, the batch upload and the deal upsert: the same key
and request replay the stored answer without doing the work again; another request under the key is
a 422; a request while the first is in flight is a 409; keys are per site and user, and expire."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from doors.batch.models import BatchJob
from entities.opportunities.models import Opportunity
from kernel.idempotency import claim_key
from kernel.models import IdempotencyClaim, IdempotencyKey
from pipeline.models import StagedRow, Sync
from tests.concurrency import Racer, conninfo
from tests.conftest import bearer
from tests.doors.batch.helpers import rows_csv, upload
from tests.factories import ImportDefinitionFactory, TokenFactory, UserFactory
from tests.pipeline.helpers import drive

pytestmark = pytest.mark.django_db

ROWS = [{"OpportunityID": "1", "OpportunityName": "One", "Amount": "10", "Stage": "Proposal"}]


def key(k: str) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": k}


def data_url(definition) -> str:
    return f"/api/bulk/2.0/opportunities/imports/{definition.pk}/data"


def test_a_retried_upload_stages_its_rows_once(api):
    definition = ImportDefinitionFactory(site=api.site)
    body = json.dumps(ROWS)

    first = api.post(data_url(definition), body, content_type="application/json", **key("up-1"))
    again = api.post(data_url(definition), body, content_type="application/json", **key("up-1"))

    assert first.status_code == again.status_code == 204
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert StagedRow.objects.filter(definition=definition).count() == 1
    csv = "OpportunityID,OpportunityName,Amount,Stage\n2,Two,5,Proposal\n"
    assert api.post(data_url(definition), csv, content_type="text/csv", **key("up-2")).status_code == 204
    assert api.post(data_url(definition), csv, content_type="text/csv", **key("up-2")).status_code == 204
    assert StagedRow.objects.filter(definition=definition).count() == 2


def test_the_same_key_with_another_body_is_a_422_and_nothing_is_done(api):
    definition = ImportDefinitionFactory(site=api.site)
    assert (
        api.post(data_url(definition), json.dumps(ROWS), content_type="application/json", **key("k")).status_code == 204
    )

    other = api.post(data_url(definition), json.dumps(ROWS * 2), content_type="application/json", **key("k"))

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert other.json()["failures"][0]["field"] == "Idempotency-Key"
    assert StagedRow.objects.filter(definition=definition).count() == 1


def test_an_auto_sync_upload_replays_its_sync(api):
    definition = ImportDefinitionFactory(site=api.site, is_sync_triggered_on_import=True)
    body = json.dumps(ROWS)

    first = api.post(data_url(definition), body, content_type="application/json", **key("auto"))
    again = api.post(data_url(definition), body, content_type="application/json", **key("auto"))

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and Sync.objects.filter(definition=definition).count() == 1


def test_a_retried_sync_request_makes_one_sync(api):
    definition = ImportDefinitionFactory(site=api.site)
    body = {"syncedInstanceUri": f"/opportunities/imports/{definition.pk}"}

    first = api.post("/api/bulk/2.0/syncs", body, format="json", **key("s-1"))
    again = api.post("/api/bulk/2.0/syncs", body, format="json", **key('"s-1"'))  # the draft's quoted form

    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Sync.objects.filter(definition=definition).count() == 1


def client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(TokenFactory(user=user).raw))
    return client


@pytest.mark.django_db(transaction=True)
def test_a_key_in_flight_is_a_409_and_the_request_holding_it_goes_on(api):
    """Two real requests under one key at once (each on its own connection): while the first one's
    upload waits (a test connection holds its definition), the second is a 409 at once, takes
    nothing, and the first then stages its rows and answers; a retry replays that answer."""
    definition = ImportDefinitionFactory(site=api.site)
    body = json.dumps(ROWS)

    def send():
        return client_of(api.user).post(data_url(definition), body, content_type="application/json", **key("busy"))

    holder = psycopg.connect(conninfo())
    holder.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
    try:
        first = Racer(send)
        first.wait_until_blocked()  # the first holds the key and waits to stage its rows
        second = Racer(send)
        refused_at_once = second.done(timeout=10)
    finally:
        holder.rollback()
        holder.close()
    assert refused_at_once, "the second request waited instead of being refused"
    refused = second.join()
    assert refused.status_code == 409 and refused.json()["code"] == "idempotency_key_in_use"
    assert refused.json()["failures"][0]["field"] == "Idempotency-Key"
    answered = first.join()
    assert answered.status_code == 204 and "Idempotent-Replayed" not in answered
    assert StagedRow.objects.filter(definition=definition).count() == 1
    assert not IdempotencyClaim.objects.exists()  # released when the request ended
    replay = send()
    assert replay.status_code == 204 and replay["Idempotent-Replayed"] == "true"
    assert StagedRow.objects.filter(definition=definition).count() == 1


def test_a_dead_requests_claim_blocks_its_key_until_it_expires(api):
    """A claim whose process died (taken, never released) refuses the key till its expiry, then
    gives way. No session state: the same holds through PgBouncer's transaction pooling."""
    definition = ImportDefinitionFactory(site=api.site)
    holder = claim_key(site_id=api.site.pk, user_id=api.user.pk, key="busy")  # its process then died
    claim = IdempotencyClaim.objects.get()
    assert claim.holder == holder
    assert timedelta(seconds=290) < claim.expires_at - timezone.now() <= timedelta(seconds=300)

    response = api.post(data_url(definition), json.dumps(ROWS), content_type="application/json", **key("busy"))

    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_in_use"
    assert StagedRow.objects.filter(definition=definition).count() == 0
    assert IdempotencyClaim.objects.get().holder == holder  # the refused request took nothing

    IdempotencyClaim.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # its expiry passed

    again = api.post(data_url(definition), json.dumps(ROWS), content_type="application/json", **key("busy"))
    assert again.status_code == 204
    assert StagedRow.objects.filter(definition=definition).count() == 1
    assert not IdempotencyClaim.objects.exists()  # released when the request ended


def test_keys_are_per_user_and_expire_and_refused_requests_are_not_stored(api):
    definition = ImportDefinitionFactory(site=api.site)
    other = APIClient()
    other.credentials(**bearer(TokenFactory(user=UserFactory(site=api.site)).raw))
    body = json.dumps(ROWS)
    assert api.post(data_url(definition), body, content_type="application/json", **key("shared")).status_code == 204
    assert other.post(data_url(definition), body, content_type="application/json", **key("shared")).status_code == 204
    assert StagedRow.objects.filter(definition=definition).count() == 2  # two users, two uploads

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert api.post(data_url(definition), body, content_type="application/json", **key("shared")).status_code == 204
    assert StagedRow.objects.filter(definition=definition).count() == 3  # expired: done again

    bad = api.post(data_url(definition), "[1]", content_type="application/json", **key("fix-me"))
    assert bad.status_code == 400
    fixed = api.post(data_url(definition), body, content_type="application/json", **key("fix-me"))
    assert fixed.status_code == 204 and "Idempotent-Replayed" not in fixed  # the refused one did nothing

    too_long = api.post(data_url(definition), body, content_type="application/json", **key("x" * 256))
    assert too_long.status_code == 400 and too_long.json()["failures"][0]["field"] == "Idempotency-Key"


def test_a_retried_batch_upload_makes_one_job(api):
    text = rows_csv("2025-01-01T00:00:00Z,USD,10,Proposal,a@example.com,R-1")
    first = api.post(
        f"/api/v1/{api.site.pk}/opportunity/upload/batch",
        {"file": _file(text)},
        format="multipart",
        **key("batch-1"),
    )
    again = api.post(
        f"/api/v1/{api.site.pk}/opportunity/upload/batch",
        {"file": _file(text)},
        format="multipart",
        **key("batch-1"),
    )
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert BatchJob.objects.filter(site=api.site).count() == 1
    changed = upload(api, text.replace("R-1", "R-2"))
    assert changed.status_code == 202  # without a key: a new job


def _file(text: str):
    from tests.doors.batch.helpers import csv_file

    return csv_file(text)


def test_a_retried_deal_upsert_replays_its_results(api):
    body = {"deals": [{"externalDealId": "d-1", "name": "Acme", "amount": 5}]}
    first = api.post("/api/v1/deals", body, format="json", **key("deals-1"))
    Opportunity.objects.filter(site=api.site).update(name="changed meanwhile")

    again = api.post("/api/v1/deals", body, format="json", **key("deals-1"))

    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert first.json()["results"][0]["action"] == "created"
    assert Opportunity.objects.get(site=api.site).name == "changed meanwhile"  # not upserted again


# --- every door that takes a key: the key is the site's, the user's and the request's -----------


@dataclass
class Door:
    """A write that takes an Idempotency-Key: what it writes to for a site (`make`), the request
    (`send`), how much it has done there (`work`), and what lets the same request be done again
    (`settle`: a sync ends, a deal is changed meanwhile)."""

    name: str
    make: Callable
    send: Callable
    work: Callable
    settle: Callable = lambda ctx, response: None


def answer(response):
    return response.json() if response.content else None


def _deal(client, site, k):
    body = {"deals": [{"externalDealId": "d-1", "name": "Acme", "amount": 5}]}
    return client.post("/api/v1/deals", body, format="json", **key(k))


def _end_sync(definition, response) -> None:
    drive(int(response.json()["uri"].rsplit("/", 1)[1]))


DOORS = [
    Door(
        "data upload",
        make=lambda site: ImportDefinitionFactory(site=site),
        send=lambda client, d, k: client.post(data_url(d), json.dumps(ROWS), content_type="application/json", **key(k)),
        work=lambda d: StagedRow.objects.filter(definition=d).count(),
    ),
    Door(
        "POST /syncs",
        make=lambda site: ImportDefinitionFactory(site=site),
        send=lambda client, d, k: client.post(
            "/api/bulk/2.0/syncs", {"syncedInstanceUri": f"/opportunities/imports/{d.pk}"}, format="json", **key(k)
        ),
        work=lambda d: Sync.objects.filter(definition=d).count(),
        settle=_end_sync,
    ),
    Door(
        "batch upload",
        make=lambda site: site,
        send=lambda client, site, k: client.post(
            f"/api/v1/{site.pk}/opportunity/upload/batch",
            {"file": _file(rows_csv("2025-01-01T00:00:00Z,USD,10,Proposal,a@example.com,R-1"))},
            format="multipart",
            **key(k),
        ),
        work=lambda site: BatchJob.objects.filter(site=site).count(),
    ),
    Door(
        "deal upsert",
        make=lambda site: site,
        send=_deal,
        work=lambda site: Opportunity.objects.filter(site=site, name="Acme").count(),
        settle=lambda site, response: Opportunity.objects.filter(site=site).update(name="changed meanwhile"),
    ),
]


@pytest.mark.parametrize("door", range(len(DOORS)), ids=[d.name for d in DOORS])
def test_a_key_replays_only_for_its_user_site_and_request(api, other_api, door):
    door, elsewhere = DOORS[door], DOORS[(door + 1) % len(DOORS)]
    mine = door.make(api.site)
    first = door.send(api, mine, "k-1")
    assert first.status_code in (200, 201, 202, 204), first.content
    door.settle(mine, first)
    done = door.work(mine)

    again = door.send(api, mine, "k-1")  # the same user, site and request: replayed, not done again
    assert again.status_code == first.status_code and again["Idempotent-Replayed"] == "true"
    assert answer(again) == answer(first) and door.work(mine) == done

    colleague = door.send(client_of(UserFactory(site=api.site)), mine, "k-1")  # another user, the same site
    assert colleague.status_code == first.status_code and "Idempotent-Replayed" not in colleague
    assert door.work(mine) == done + 1  # done again: not the first one's answer
    door.settle(mine, colleague)

    theirs = door.make(other_api.site)
    stranger = door.send(other_api, theirs, "k-1")  # another site
    assert stranger.status_code == first.status_code and "Idempotent-Replayed" not in stranger
    assert door.work(theirs) == 1

    target = elsewhere.make(api.site)
    before = elsewhere.work(target)
    other_path = elsewhere.send(api, target, "k-1")  # the same user and key on another door's path
    assert other_path.status_code == 422 and other_path.json()["code"] == "idempotency_key_reused"
    assert elsewhere.work(target) == before and "Idempotent-Replayed" not in other_path


def test_a_batch_upload_under_the_documents_path_is_not_the_api_paths_answer(api):
    text = rows_csv("2025-01-01T00:00:00Z,USD,10,Proposal,a@example.com,R-1")
    first = api.post(
        f"/api/v1/{api.site.pk}/opportunity/upload/batch", {"file": _file(text)}, format="multipart", **key("b")
    )
    assert first.status_code == 202

    other = api.post(
        f"/v1/{api.site.pk}/opportunity/upload/batch", {"file": _file(text)}, format="multipart", **key("b")
    )

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert BatchJob.objects.filter(site=api.site).count() == 1
