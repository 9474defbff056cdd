"""`/api/v1/stages`: the site's stage list in the /api/v1 conventions, and the site's default stage,
which only the site's admins choose (never an import)."""

import pytest

from entities.opportunities.models import Opportunity, Stage
from kernel.models import Site
from tests.doors.batch.helpers import rows_csv, upload
from tests.entities.contacts.factories import AccountFactory
from tests.pipeline.helpers import drive

pytestmark = pytest.mark.django_db
URL = "/api/v1/stages"


def _names(api, query=""):
    return [s["name"] for s in api.get(f"{URL}{query}").json()["items"]]


def test_list_is_an_envelope_of_camel_case_stages_with_numbers(api):
    page = api.get(URL).json()
    assert (page["totalResults"], page["count"], page["limit"], page["offset"], page["hasMore"]) == (
        7,
        7,
        1000,
        0,
        False,
    )
    first = page["items"][0]
    assert first == {
        "id": first["id"], "name": "Prospecting", "probability": 0.1, "statusId": "open", "sortOrder": 10,
        "externalId": None, "pipeline": None, "isDefault": True,
    }  # fmt: skip
    assert [s["isDefault"] for s in page["items"]].count(True) == 1
    assert _names(api, "?orderBy=probability DESC&limit=2") == ["Closed Won", "Negotiation"]
    assert _names(api, "?q=statusId=won") == ["Closed Won"]
    assert _names(api, "?q=probability>0.6") == ["Negotiation", "Closed Won"]
    assert api.get(f"{URL}?totalResults=false").json().keys() == {"items", "limit", "offset", "count", "hasMore"}


def test_create_patch_delete_are_site_scoped_and_strict(api, other_api):
    created = api.post(URL, {"name": "Verbal", "probability": 0.8, "statusId": "open"}, format="json")
    assert created.status_code == 201, created.content
    verbal = created.json()
    assert verbal["probability"] == 0.8 and verbal["sortOrder"] > 70 and verbal["isDefault"] is False
    assert _names(api)[-1] == "Verbal"  # at the end of the list
    assert api.post(URL, {"name": "verbal"}, format="json").json()["failures"][0]["field"] == "name"
    assert other_api.get(f"{URL}/{verbal['id']}").status_code == 404
    patched = api.patch(f"{URL}/{verbal['id']}", {"probability": 0.9, "sortOrder": 5}, format="json")
    assert patched.status_code == 200 and patched.json()["probability"] == 0.9
    assert _names(api)[0] == "Verbal"
    for bad, field, constraint in (
        ({"sort_order": 1}, "sort_order", "Unknown property."),
        ({"status": "won"}, "status", "Unknown property."),
        ({"id": 3}, "id", "Read-only property."),
        ({"pipeline": None}, "pipeline", "Read-only property."),
        ({"probability": "0.5"}, "probability", None),  # numbers are JSON numbers
        ({"probability": 1.5}, "probability", None),
        ({"statusId": "maybe"}, "statusId", None),
        ({"isDefault": "yes"}, "isDefault", "Must be true or false."),
    ):
        response = api.patch(f"{URL}/{verbal['id']}", bad, format="json")
        assert response.status_code == 400, bad
        failure = response.json()["failures"][0]
        assert failure["field"] == field, bad
        assert constraint is None or failure["constraint"] == constraint
    assert api.put(f"{URL}/{verbal['id']}", {"name": "x"}, format="json").status_code == 405
    assert api.delete(f"{URL}/{verbal['id']}").status_code == 204
    assert "Verbal" not in _names(api)


def test_a_stage_in_use_or_the_default_stage_cannot_be_deleted(api):
    default = Stage.objects.get(pk=api.site.default_stage_id)
    response = api.delete(f"{URL}/{default.pk}")
    assert response.status_code == 409 and "default stage" in response.json()["failures"][0]["constraint"]
    proposal = Stage.objects.get(site=api.site, name="Proposal")
    Opportunity.objects.create(site=api.site, external_id="X", name="X", stage=proposal)
    assert api.delete(f"{URL}/{proposal.pk}").status_code == 409
    assert Stage.objects.filter(pk__in=[default.pk, proposal.pk]).count() == 2


def test_the_default_stage_is_chosen_by_the_site_and_an_import_never_changes_it(api):
    # given: a site whose default stage is Prospecting
    company = AccountFactory(site=api.site)
    new = {"name": "Deal", "companyId": str(company.uuid)}
    assert api.post("/api/v1/opportunities", new, format="json").json()["opportunityStage"]["name"] == "Prospecting"

    # when: a batch file with a typo creates a stage (with no probability: it is no candidate either)
    response = upload(api, rows_csv("2024-05-01T10:00:00Z,GBP,10,Bogus Stage,a@example.com,R-1"))
    assert response.status_code == 202, response.content
    bogus = Stage.objects.get(site=api.site, name="Bogus Stage")
    assert bogus.probability is None

    # then: new opportunities still get Prospecting, from REST and from deals
    assert api.post("/api/v1/opportunities", new, format="json").json()["opportunityStage"]["name"] == "Prospecting"
    deal = api.post("/api/v1/deals", {"deals": [{"externalDealId": "d-1", "name": "d"}]}, format="json").json()
    assert Opportunity.objects.get(uuid=deal["results"][0]["id"]).stage.name == "Prospecting"
    assert Site.objects.get(pk=api.site.pk).default_stage.name == "Prospecting"

    # and: the site's admins choose another default through the API
    lead = api.post(URL, {"name": "Lead", "probability": 0.05, "isDefault": True}, format="json").json()
    assert lead["isDefault"] is True
    assert Site.objects.get(pk=api.site.pk).default_stage_id == lead["id"]
    api.site.refresh_from_db()
    assert api.post("/api/v1/opportunities", new, format="json").json()["opportunityStage"]["name"] == "Lead"
    flags = {s["name"]: s["isDefault"] for s in api.get(URL).json()["items"]}
    assert [n for n, d in flags.items() if d] == ["Lead"]
    turned_off = api.patch(f"{URL}/{lead['id']}", {"isDefault": False}, format="json")
    assert turned_off.status_code == 400 and turned_off.json()["failures"][0]["field"] == "isDefault"
    proposal = Stage.objects.get(site=api.site, name="Proposal")
    assert api.patch(f"{URL}/{proposal.pk}", {"isDefault": True}, format="json").json()["isDefault"] is True
    assert Site.objects.get(pk=api.site.pk).default_stage_id == proposal.pk


def test_a_site_without_a_default_stage_gets_the_lowest_probability_active_open_stage(api):
    # given a site that has not chosen a default stage
    Site.objects.filter(pk=api.site.pk).update(default_stage=None)
    api.site.refresh_from_db()
    company = AccountFactory(site=api.site)

    # then new opportunities and deals naming no stage get its cheapest active open one (Ruddr's rule)
    response = api.post("/api/v1/opportunities", {"name": "Deal", "companyId": str(company.uuid)}, format="json")
    assert response.json()["opportunityStage"]["name"] == "Prospecting"
    Opportunity.objects.create(
        site=api.site, external_id="old", name="old", stage=Stage.objects.get(site=api.site, name="Proposal")
    )
    body = {"deals": [{"externalDealId": "new", "name": "n"}, {"externalDealId": "old", "name": "renamed"},
                      {"externalDealId": "named", "name": "n", "stageLabel": "Brand New"}]}  # fmt: skip
    results = api.post("/api/v1/deals", body, format="json").json()["results"]
    assert [r["status"] for r in results] == ["upserted", "upserted", "upserted"]
    assert Opportunity.objects.get(site=api.site, external_id="new").stage.name == "Prospecting"
    assert Opportunity.objects.get(site=api.site, external_id="old").stage.name == "Proposal"  # kept
    # a stage a deal created has no probability, so it is not a candidate
    assert Stage.objects.get(site=api.site, name="Brand New").probability is None


def test_a_site_with_no_default_and_no_stage_that_counts_refuses_opportunities_that_name_none(api):
    Site.objects.filter(pk=api.site.pk).update(default_stage=None)
    Stage.objects.filter(site=api.site, status="open").update(probability=None)
    api.site.refresh_from_db()
    company = AccountFactory(site=api.site)
    response = api.post("/api/v1/opportunities", {"name": "Deal", "companyId": str(company.uuid)}, format="json")
    assert response.status_code == 400
    assert response.json()["failures"][0]["field"] == "opportunityStageId"
    Opportunity.objects.create(
        site=api.site, external_id="old", name="old", stage=Stage.objects.get(site=api.site, name="Proposal")
    )
    body = {"deals": [{"externalDealId": "new", "name": "n"}, {"externalDealId": "old", "name": "renamed"},
                      {"externalDealId": "named", "name": "n", "stageLabel": "Negotiation"}]}  # fmt: skip
    results = api.post("/api/v1/deals", body, format="json").json()["results"]
    assert [r["status"] for r in results] == ["failed", "upserted", "upserted"]
    assert results[0]["failures"][0]["field"] == "stageId"
    assert Opportunity.objects.get(site=api.site, external_id="old").stage.name == "Proposal"
    assert not Opportunity.objects.filter(site=api.site, external_id="new").exists()


def test_the_batch_job_says_which_stages_it_created(api):
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,10,Bogus Stage,a@example.com,R-1",
        "2024-05-01T10:00:00Z,GBP,10,proposal,b@example.com,R-2",
        "2024-05-01T10:00:00Z,GBP,10,BOGUS STAGE,c@example.com,R-3",
    )
    job_id = upload(api, text).json()["jobId"]
    bogus = Stage.objects.get(site=api.site, name="Bogus Stage")
    # no probability until someone sets one: a typo in a file never becomes the lowest-probability stage
    assert bogus.probability is None
    status = api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    assert status["createdStages"] == [{"id": bogus.pk, "name": "Bogus Stage"}]
    from doors.batch.models import BatchJob

    drive(BatchJob.objects.get(uuid=job_id).sync_id)
    status = api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    assert status["status"] == "complete" and status["createdStages"] == [{"id": bogus.pk, "name": "Bogus Stage"}]
    again = upload(api, rows_csv("2024-05-02T10:00:00Z,GBP,10,Bogus Stage,d@example.com,R-4")).json()["jobId"]
    assert api.get(f"/api/v1/{api.site.pk}/batch/{again}/status").json()["createdStages"] == []


def test_admin_shows_the_default_stage_and_offers_only_the_sites_own_stages(api, other_api):
    from django.test import Client

    from tests.factories import UserFactory

    admin_user = UserFactory(site=api.site, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    assert "Prospecting" in client.get("/admin/bulkapi/site/").content.decode()
    page = client.get(f"/admin/bulkapi/site/{api.site.pk}/change/").content.decode()
    mine = Stage.objects.get(site=api.site, name="Proposal")
    theirs = Stage.objects.get(site=other_api.site, name="Proposal")
    assert f'value="{mine.pk}"' in page and f'value="{theirs.pk}"' not in page
    form = {"name": api.site.name, "default_currency": "USD", "default_stage": mine.pk}
    assert client.post(f"/admin/bulkapi/site/{api.site.pk}/change/", form).status_code == 302
    assert Site.objects.get(pk=api.site.pk).default_stage_id == mine.pk
    form["default_stage"] = theirs.pk
    assert client.post(f"/admin/bulkapi/site/{api.site.pk}/change/", form).status_code == 200  # form error
    assert Site.objects.get(pk=api.site.pk).default_stage_id == mine.pk
