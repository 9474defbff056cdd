"""`/api/v1/opportunities`: strict field rules, defaults, computed fields, filters, tenancy."""

from decimal import Decimal

import pytest
from django.utils import timezone

from entities.opportunities.models import Opportunity, Owner, Stage, StageStatus, Tag
from tests.factories import AccountFactory, OpportunityFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/opportunities"


@pytest.fixture
def company(api):
    return AccountFactory(site=api.site, name="Acme Ltd", domain="acme.com", external_id="ACC-1")


def body(company, **overrides):
    base = {"name": "Big deal", "companyId": str(company.uuid)}
    base.update(overrides)
    return base


def failures(response) -> dict:
    assert response.status_code == 400, response.content
    out = response.json()
    assert out["code"] == "validation_error"
    return {f["field"]: f["constraint"] for f in out["failures"]}


def test_create_returns_the_whole_opportunity_with_defaults(api, company):
    # given a site whose cheapest open stage is Prospecting and whose currency is EUR
    api.site.default_currency = "EUR"
    api.site.save()
    tag = Tag.objects.create(site=api.site, name="Hot")
    owner = Owner.objects.create(site=api.site, name="Ann", email="ann@example.com", external_id="U1")

    # when
    response = api.post(
        URL,
        body(company, amount=1000, probability=0.25, tagIds=[tag.pk], ownerId=owner.pk, closeDate="2026-03-31"),
        format="json",
    )

    # then
    assert response.status_code == 201, response.content
    out = response.json()
    opp = Opportunity.objects.get(uuid=out["id"])
    assert out["externalId"] == opp.external_id == f"rest-{opp.uuid}"
    assert out["currency"] == "EUR"
    assert out["opportunityStage"]["name"] == "Prospecting"
    assert out["opportunityStage"]["statusId"] == "open"
    assert out["weightedAmount"] == 250.0
    assert out["amount"] == 1000.0 and out["probability"] == 0.25
    assert out["company"] == {"id": str(company.uuid), "name": "Acme Ltd", "domain": "acme.com", "externalId": "ACC-1"}
    assert out["owner"] == {"id": owner.pk, "externalId": "U1", "name": "Ann", "email": "ann@example.com"}
    assert out["tags"] == [{"id": tag.pk, "name": "Hot"}]
    assert out["openDate"] == timezone.now().date().isoformat()
    assert out["closeDate"] == "2026-03-31"
    assert out["isActive"] is True and out["priorityId"] is None
    assert out["createdAt"].endswith("Z") and out["modifiedAt"].endswith("Z")


def test_default_stage_is_the_sites_choice_not_the_lowest_probability(api, company):
    # the default list's Prospecting, until the site chooses another (tests/entities/opportunities/test_rest_stages.py)
    Stage.objects.create(site=api.site, name="Lead", probability=Decimal("0.05"), sort_order=99)
    Stage.objects.create(site=api.site, name="Dead", probability=Decimal("0"), status=StageStatus.LOST)
    out = api.post(URL, body(company), format="json").json()
    assert out["opportunityStage"]["name"] == "Prospecting"


def test_weighted_amount_uses_the_stage_probability_when_none_is_set(api, company):
    proposal = Stage.objects.get(site=api.site, name="Proposal")
    out = api.post(URL, body(company, amount=200, opportunityStageId=proposal.pk), format="json").json()
    assert out["probability"] == 0.5
    assert out["weightedAmount"] == 100.0
    out = api.post(URL, body(company, name="No amount"), format="json").json()
    assert out["weightedAmount"] is None


def test_client_external_id_is_kept_and_unique_per_site(api, other_api, company):
    assert api.post(URL, body(company, externalId="X-1"), format="json").status_code == 201
    assert failures(api.post(URL, body(company, externalId="X-1"), format="json")) == {
        "externalId": "An opportunity with this externalId already exists in this site."
    }
    # another site may use the same external id
    other_company = AccountFactory(site=other_api.site, name="Other", external_id=None)
    assert other_api.post(URL, body(other_company, externalId="X-1"), format="json").status_code == 201


@pytest.mark.parametrize(
    "change,field",
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": 5}, "name"),
        ({"companyId": None}, "companyId"),
        ({"companyId": "not-a-uuid"}, "companyId"),
        ({"companyId": "5f0c6f1e-0000-4000-8000-000000000000"}, "companyId"),
        ({"description": "x" * 5001}, "description"),
        ({"nextSteps": "x" * 256}, "nextSteps"),
        ({"amount": "100"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"probability": 1.5}, "probability"),
        ({"probability": -0.1}, "probability"),
        ({"probability": 0.12345}, "probability"),
        ({"closeDate": "2026-3-1"}, "closeDate"),
        ({"closeDate": "2026-02-30"}, "closeDate"),
        ({"closeDate": "2026-03-01T00:00:00Z"}, "closeDate"),
        ({"priorityId": "urgent"}, "priorityId"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XXY"}, "currency"),
        ({"opportunityStageId": 999999999}, "opportunityStageId"),
        ({"opportunityStageId": "1"}, "opportunityStageId"),
        ({"isActive": "yes"}, "isActive"),
        ({"tagIds": [999999999]}, "tagIds"),
        ({"tagIds": "1"}, "tagIds"),
        ({"ownerId": 999999999}, "ownerId"),
        ({"externalId": "x" * 256}, "externalId"),
    ],
)
def test_each_field_rule_is_a_400_naming_the_field(api, company, change, field):
    response = api.post(URL, body(company, **change), format="json")
    assert field in failures(response)
    assert not Opportunity.objects.exists()


def test_missing_required_fields_are_named(api):
    assert set(failures(api.post(URL, {}, format="json"))) == {"name", "companyId"}


def test_unknown_and_read_only_properties_are_rejected(api, company):
    response = api.post(
        URL, body(company, weightedAmount=5, id="x", createdAt="2020-01-01", colour="red"), format="json"
    )
    assert failures(response) == {
        "weightedAmount": "Read-only property.",
        "id": "Read-only property.",
        "createdAt": "Read-only property.",
        "colour": "Unknown property.",
    }


def test_probability_with_four_decimals_and_lower_case_currency_are_accepted(api, company):
    out = api.post(URL, body(company, probability=0.1234, currency="gbp", amount=10), format="json").json()
    assert out["probability"] == 0.1234 and out["currency"] == "GBP"
    assert out["weightedAmount"] == 1.234


def test_patch_updates_only_what_is_given(api, company):
    tag = Tag.objects.create(site=api.site, name="Hot")
    created = api.post(URL, body(company, amount=10, description="first"), format="json").json()
    won = Stage.objects.get(site=api.site, name="Closed Won")

    response = api.patch(
        f"{URL}/{created['id']}",
        {"amount": 20, "opportunityStageId": won.pk, "tagIds": [tag.pk], "priorityId": "high"},
        format="json",
    )

    assert response.status_code == 200, response.content
    out = response.json()
    assert out["amount"] == 20.0 and out["description"] == "first"
    assert out["opportunityStage"]["statusId"] == "won" and out["weightedAmount"] == 20.0
    assert out["tags"] == [{"id": tag.pk, "name": "Hot"}] and out["priorityId"] == "high"
    assert out["modifiedAt"] >= created["modifiedAt"]
    assert failures(api.patch(f"{URL}/{created['id']}", {"name": ""}, format="json")) == {
        "name": "This field may not be blank."
    }
    assert "companyId" in failures(api.patch(f"{URL}/{created['id']}", {"companyId": None}, format="json"))
    assert failures(api.patch(f"{URL}/{created['id']}", {"openDate": "2020-01-01"}, format="json")) == {
        "openDate": "Read-only property."
    }
    assert api.put(f"{URL}/{created['id']}", body(company), format="json").status_code == 405


def test_get_and_delete(api, company):
    created = api.post(URL, body(company), format="json").json()
    assert api.get(f"{URL}/{created['id']}").json() == created
    assert api.delete(f"{URL}/{created['id']}").status_code == 204
    assert api.get(f"{URL}/{created['id']}").status_code == 404
    assert not Opportunity.objects.exists()


def test_another_sites_opportunity_is_a_404(api, other_api, company):
    created = api.post(URL, body(company), format="json").json()
    for call in (other_api.get, other_api.delete):
        response = call(f"{URL}/{created['id']}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other_api.patch(f"{URL}/{created['id']}", {"name": "mine"}, format="json").status_code == 404
    assert other_api.get(URL).json()["items"] == []
    # and another site's records cannot be referenced
    other_company = AccountFactory(site=other_api.site, name="Theirs", external_id=None)
    assert "companyId" in failures(api.post(URL, body(other_company), format="json"))
    other_stage = Stage.objects.filter(site=other_api.site).first()
    assert "opportunityStageId" in failures(
        api.post(URL, body(company, opportunityStageId=other_stage.pk), format="json")
    )


def test_opportunities_from_the_bulk_door_read_back_the_same_way(api):
    opp = OpportunityFactory(site=api.site, external_id="ELQ-1", amount=50, currency="USD", territory="EMEA")
    out = api.get(f"{URL}/{opp.uuid}").json()
    assert out["externalId"] == "ELQ-1" and out["company"] is None and out["owner"] is None
    assert out["territory"] == "EMEA"
    assert out["weightedAmount"] == 5.0  # Prospecting, 0.1


def test_list_filters_paging_and_query_count(api, company, django_assert_max_num_queries):
    # given
    other = AccountFactory(site=api.site, name="Other", domain="other.com", external_id=None)
    won = Stage.objects.get(site=api.site, name="Closed Won")
    tag = Tag.objects.create(site=api.site, name="Hot")
    owner = Owner.objects.create(site=api.site, name="Bob")
    a = api.post(URL, body(company, name="Alpha deal", closeDate="2026-01-10", currency="EUR"), format="json").json()
    b = api.post(
        URL,
        body(other, name="Beta", closeDate="2026-02-10", opportunityStageId=won.pk, tagIds=[tag.pk], ownerId=owner.pk),
        format="json",
    ).json()
    c = api.post(URL, body(company, name="Gamma deal", externalId="G-1"), format="json").json()

    def ids(query):
        response = api.get(URL, query)
        assert response.status_code == 200, response.content
        return [o["id"] for o in response.json()["items"]]

    # then
    assert ids({}) == [a["id"], b["id"], c["id"]]
    assert ids({"externalId": "G-1"}) == [c["id"]]
    assert ids({"statusId": "won"}) == [b["id"]]
    assert ids({"opportunityStageId": won.pk}) == [b["id"]]
    assert ids({"companyId": str(other.uuid)}) == [b["id"]]
    assert ids({"ownerId": owner.pk}) == [b["id"]]
    assert ids({"tagId": tag.pk}) == [b["id"]]
    assert ids({"currency": "eur"}) == [a["id"]]
    assert ids({"closeDateFrom": "2026-01-01", "closeDateTo": "2026-01-31"}) == [a["id"]]
    assert ids({"search": "DEAL"}) == [a["id"], c["id"]]
    assert ids({"modifiedSince": "2000-01-01T00:00:00Z"}) == [a["id"], b["id"], c["id"]]
    assert ids({"modifiedSince": "2999-01-01T00:00:00Z"}) == []
    assert ids({"orderBy": "name DESC"}) == [c["id"], b["id"], a["id"]]
    page = api.get(URL, {"limit": 2, "offset": 1}).json()
    assert (page["totalResults"], page["count"], page["hasMore"], page["limit"], page["offset"]) == (3, 2, False, 2, 1)
    assert api.get(URL, {"statusId": "maybe"}).status_code == 400
    assert api.get(URL, {"closeDateFrom": "soon"}).status_code == 400
    assert api.get(URL, {"limit": 0}).status_code == 400
    # one page costs the same few queries whatever its size (auth, count, rows, tags)
    with django_assert_max_num_queries(5):
        api.get(URL)


def test_salesforce_and_hubspot_ids_and_the_cloud_folder_are_the_same_fields_ruddrs_door_shows(api, company):
    # given ids set through /api/v1
    ids = {"salesforceId": "0060b00000BkFxAAAV", "hubspotId": "12345678", "cloudFolderUrl": "https://x.example/f"}
    out = api.post(URL, body(company, **ids), format="json").json()
    assert {k: out[k] for k in ids} == ids

    # then Ruddr's door reads them, and clearing them in one door clears them in the other
    assert {k: api.get(f"/api/workspace/opportunities/{out['id']}").json()[k] for k in ids} == ids
    api.patch(f"/api/workspace/opportunities/{out['id']}", {"salesforceId": None}, format="json")
    assert api.get(f"{URL}/{out['id']}").json()["salesforceId"] is None
    assert failures(api.patch(f"{URL}/{out['id']}", {"hubspotId": 5}, format="json")) == {
        "hubspotId": "Must be a string."
    }
