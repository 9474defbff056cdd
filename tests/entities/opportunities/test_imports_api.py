"""Opportunity import definitions: defaults, echo rules, validation failures, tenancy."""

import pytest

from pipeline.models import CustomField, ImportDefinition
from tests.factories import OPPORTUNITY_FIELDS, ImportDefinitionFactory

pytestmark = pytest.mark.django_db
IMPORTS = "/api/bulk/2.0/opportunities/imports"


def body(**overrides):
    base = {"name": "Opportunity Import", "fields": dict(OPPORTUNITY_FIELDS), "identifierFieldName": "OpportunityID"}
    base.update(overrides)
    return base


def failures(response):
    assert response.status_code == 400, response.content
    return {(f["field"], f.get("value")): f["constraint"] for f in response.json()["failures"]}


def test_create_echoes_defaults_and_omits_unset(api):
    response = api.post(IMPORTS, body(), format="json")
    assert response.status_code == 201
    out = response.json()
    assert list(out)[0] == "isIdentifierFieldCaseSensitive"
    assert out["isIdentifierFieldCaseSensitive"] is False
    assert out["isSyncTriggeredOnImport"] is False
    assert out["dataRetentionDuration"] == "P7D"
    assert out["fields"] == OPPORTUNITY_FIELDS and list(out["fields"]) == list(OPPORTUNITY_FIELDS)
    assert out["uri"] == f"/opportunities/imports/{ImportDefinition.objects.get().pk}"
    assert out["createdBy"] == api.user.username and out["updatedBy"] == api.user.username
    assert out["createdAt"].endswith("Z") and len(out["createdAt"].split(".")[1]) == 8
    assert out["updatedAt"] == out["createdAt"]
    for unset in ("autoDeleteDuration", "updateRule", "importRule", "updateRuleByField", "externalSystemId", "id"):
        assert unset not in out


def test_nulls_readonly_and_unknown_properties_are_tolerated(api):
    response = api.post(
        IMPORTS,
        body(
            syncActions=None, updateRuleByField=None, callbackUrl=None, filter=None, uri="/x/1",
            createdAt="2018-01-01T00:00:00Z", kbUsed=5, somethingNew=True, autoDeleteDuration=None,
            isSyncTriggeredOnImport="true", updateRule="ifNewIsNotNull",
        ),
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["isSyncTriggeredOnImport"] is True
    assert out["updateRule"] == "ifNewIsNotNull"
    assert "somethingNew" not in out and "syncActions" not in out


@pytest.mark.parametrize(
    "change,field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"fields": {}}, "fields"),
        ({"updateRule": "sometimes"}, "updateRule"),
        ({"importRule": "never"}, "importRule"),
        ({"dataRetentionDuration": "P15D"}, "dataRetentionDuration"),
        ({"dataRetentionDuration": "PT30M"}, "dataRetentionDuration"),
        ({"dataRetentionDuration": "soon"}, "dataRetentionDuration"),
        ({"autoDeleteDuration": "PT10M"}, "autoDeleteDuration"),
        ({"identifierFieldName": "Nope"}, "identifierFieldName"),
        ({"identifierFieldName": "OpportunityName"}, "identifierFieldName"),
        ({"identifierFieldName": None}, "identifierFieldName"),
        ({"importPriorityUri": "/imports/priorities/99"}, "importPriorityUri"),
    ],
)
def test_invalid_properties_are_400_naming_the_field(api, change, field):
    got = failures(api.post(IMPORTS, body(**change), format="json"))
    assert field in {f for f, _ in got}
    assert not ImportDefinition.objects.exists()


def test_bad_statements_are_named_with_field_and_statement(api):
    fields = dict(OPPORTUNITY_FIELDS)
    fields["Broken"] = "{{Opportunity.Field(Amount}}"
    fields["Unknown"] = "{{Opportunity.Field(Colour)}}"
    fields["Wrong"] = "{{Contact.Field(C_EmailAddress)}}"
    fields["Again"] = "{{opportunity.field(amount)}}"
    fields["ReadOnly"] = "{{Opportunity.UpdatedAt}}"
    got = failures(api.post(IMPORTS, body(fields=fields), format="json"))
    assert ("fields.Broken", "{{Opportunity.Field(Amount}}") in got
    assert ("fields.Unknown", "{{Opportunity.Field(Colour)}}") in got
    assert ("fields.Wrong", "{{Contact.Field(C_EmailAddress)}}") in got
    assert "already mapped" in got[("fields.Again", "{{opportunity.field(amount)}}")]
    assert got[("fields.ReadOnly", "{{Opportunity.UpdatedAt}}")] == "Field is read-only."


@pytest.mark.parametrize("missing", ["OpportunityName", "Stage", "Amount", "OpportunityID"])
def test_missing_required_statement_is_400(api, missing):
    fields = dict(OPPORTUNITY_FIELDS)
    statement = fields.pop(missing)
    got = failures(api.post(IMPORTS, body(fields=fields, identifierFieldName="OpportunityID"), format="json"))
    assert ("fields", statement) in got


def test_statement_words_are_case_insensitive_and_echoed_as_sent(api):
    fields = dict(OPPORTUNITY_FIELDS, Amount="{{opportunity.FIELD(Amount)}}")
    response = api.post(IMPORTS, body(fields=fields), format="json")
    assert response.status_code == 201
    assert response.json()["fields"]["Amount"] == "{{opportunity.FIELD(Amount)}}"


def test_get_put_delete_and_cross_site_404(api, other_api):
    uri = api.post(IMPORTS, body(), format="json").json()["uri"]
    path = f"/api/bulk/2.0{uri}"
    assert api.get(path).json()["name"] == "Opportunity Import"
    put = api.put(
        path, body(name="Renamed", autoDeleteDuration="P30D", isIdentifierFieldCaseSensitive=True), format="json"
    )
    assert put.status_code == 200
    assert put.json()["name"] == "Renamed" and put.json()["autoDeleteDuration"] == "P30D"
    assert put.json()["isIdentifierFieldCaseSensitive"] is True
    for method in ("get", "delete"):
        assert getattr(other_api, method)(path).status_code == 404
    assert other_api.put(path, body(), format="json").status_code == 404
    assert other_api.get(IMPORTS).json()["totalResults"] == 0
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_list_is_scoped_and_paged(api, other_api):
    for _ in range(3):
        ImportDefinitionFactory(site=api.site)
    ImportDefinitionFactory(site=other_api.site)
    body_ = api.get(IMPORTS + "?limit=2&offset=1").json()
    assert body_["totalResults"] == 3 and body_["count"] == 2 and body_["hasMore"] is False


def test_fields_catalog_lists_standard_and_custom_fields(api, other_api):
    CustomField.objects.create(site=api.site, entity="opportunity", name="Region Code", internal_name="RegionCode")
    items = api.get("/api/bulk/2.0/opportunities/fields").json()["items"]
    by_statement = {f["statement"]: f for f in items}
    for name in ("Name", "AccountName", "Amount", "CloseDate", "Currency", "ForecastToCloseDate", "Stage",
                 "Territory", "Owner", "PrimaryCampaignId"):  # fmt: skip
        assert f"{{{{Opportunity.Field({name})}}}}" in by_statement
    ident = by_statement["{{Opportunity.Id}}"]
    assert ident["internalName"] == "RemoteOpportunityID" and ident["hasNotNullConstraint"] is True
    custom = by_statement["{{Opportunity.Field(RegionCode)}}"]
    assert api.get(f"/api/bulk/2.0{custom['uri']}").json() == custom
    assert other_api.get(f"/api/bulk/2.0{custom['uri']}").status_code == 404
    assert "{{Opportunity.Field(RegionCode)}}" not in {
        f["statement"] for f in other_api.get("/api/bulk/2.0/opportunities/fields").json()["items"]
    }
    fields = dict(OPPORTUNITY_FIELDS, Region="{{Opportunity.Field(RegionCode)}}")
    assert api.post(IMPORTS, body(fields=fields), format="json").status_code == 201
    assert other_api.post(IMPORTS, body(fields=fields), format="json").status_code == 400
