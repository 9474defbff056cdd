"""The site's tags, owners and pipelines over REST, and the OpenAPI schema of the opportunity doors."""

import pytest

from entities.opportunities.models import Owner, Pipeline, Tag

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url,body,clash",
    [
        ("/api/v1/tags", {"name": "Hot"}, {"name": "hot"}),
        ("/api/v1/owners", {"externalId": "U1", "name": "Ann", "email": "ann@example.com"}, {"externalId": "U1"}),
        ("/api/v1/pipelines", {"externalId": "P1", "label": "Sales"}, {"externalId": "P1", "label": "Other"}),
    ],
)
def test_crud_is_site_scoped_and_strict(api, other_api, url, body, clash):
    created = api.post(url, body, format="json")
    assert created.status_code == 201, created.content
    item = created.json()
    assert item == {"id": item["id"], **body}
    assert api.get(url).json()["items"] == [item]
    assert api.post(url, clash, format="json").status_code == 400  # unique per site
    assert other_api.post(url, clash, format="json").status_code == 201  # ...not across sites
    assert other_api.get(f"{url}/{item['id']}").status_code == 404
    assert other_api.delete(f"{url}/{item['id']}").status_code == 404
    bad = api.patch(f"{url}/{item['id']}", {"id": 5, "colour": "red"}, format="json")
    assert bad.status_code == 400
    assert {f["field"]: f["constraint"] for f in bad.json()["failures"]} == {
        "id": "Read-only property.",
        "colour": "Unknown property.",
    }
    assert api.delete(f"{url}/{item['id']}").status_code == 204
    assert api.get(url).json()["items"] == []


def test_owner_email_must_be_valid(api):
    response = api.post("/api/v1/owners", {"name": "Ann", "email": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["failures"][0]["field"] == "email"
    assert not Owner.objects.exists()


def test_deleting_a_tag_or_pipeline_keeps_opportunities_and_stages(api):
    tag = Tag.objects.create(site=api.site, name="Hot")
    pipeline = Pipeline.objects.create(site=api.site, external_id="P", label="P")
    api.post("/api/v1/deals", {"deals": [{"externalDealId": "d", "name": "d", "stageId": "s", "pipelineId": "P"}]},
             format="json")  # fmt: skip
    assert api.delete(f"/api/v1/tags/{tag.pk}").status_code == 204
    assert api.delete(f"/api/v1/pipelines/{pipeline.pk}").status_code == 204
    out = api.get("/api/v1/opportunities").json()["items"][0]
    assert out["opportunityStage"]["externalId"] == "s" and out["opportunityStage"]["pipeline"] is None


def test_openapi_schema_shows_every_endpoint_and_field(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if "json" in response["Content-Type"] else __import__("yaml").safe_load(response.content)
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/deals": {"post"},
        "/api/v1/opportunities": {"get", "post"},
        "/api/v1/opportunities/{id}": {"get", "patch", "delete"},
        "/api/v1/tags": {"get", "post"},
        "/api/v1/tags/{id}": {"get", "patch", "delete"},
        "/api/v1/owners": {"get", "post"},
        "/api/v1/owners/{id}": {"get", "patch", "delete"},
        "/api/v1/pipelines": {"get", "post"},
        "/api/v1/pipelines/{id}": {"get", "patch", "delete"},
        "/api/v1/stages": {"get", "post"},
    }.items():
        assert methods <= set(paths[path]), path
    components = schema["components"]["schemas"]
    assert {
        "name", "companyId", "description", "nextSteps", "amount", "probability", "closeDate", "priorityId",
        "currency", "opportunityStageId", "isActive", "tagIds", "ownerId", "externalId", "cloudFolderUrl", "salesforceId",
        "hubspotId",
    } == set(components["OpportunityInputRequest"]["properties"])  # fmt: skip
    assert {
        "id", "externalId", "createdAt", "modifiedAt", "openDate", "closeDate", "weightedAmount", "company",
        "owner", "opportunityStage", "tags",
    } <= set(components["Opportunity"]["properties"])  # fmt: skip
    assert {
        "externalDealId", "name", "amount", "stageId", "stageLabel", "pipelineId", "pipelineLabel", "startDate",
        "closedDate", "ownerName", "ownerEmail", "ownerId", "dealCurrencyCode", "associatedAccounts",
    } == set(components["DealRequest"]["properties"])  # fmt: skip
    assert {"results", "summary"} == set(components["DealsResponse"]["properties"])
    assert "statusId" in components["StageSummary"]["properties"]
    # null when there is no amount, and the schema says so
    weighted = components["Opportunity"]["properties"]["weightedAmount"]
    assert (weighted["type"], weighted.get("nullable"), weighted["readOnly"]) == ("number", True, True)
    assert {"id", "name", "probability", "statusId", "sortOrder", "externalId", "pipeline", "isDefault"} <= set(
        components["Stage"]["properties"]
    )
    filters = {p["name"] for p in paths["/api/v1/opportunities"]["get"]["parameters"]}
    assert {
        "externalId", "opportunityStageId", "statusId", "companyId", "ownerId", "currency", "closeDateFrom",
        "closeDateTo", "modifiedSince", "search", "limit", "offset",
    } <= filters  # fmt: skip
