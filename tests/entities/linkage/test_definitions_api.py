"""Linkage import definitions on the wire: echo, defaults, the two-field limit, entity-type rules."""

import pytest

pytestmark = pytest.mark.django_db
IMPORTS = "/api/bulk/2.0/opportunities/contacts/imports"
TUTORIAL = {
    "name": "Opportunity Contact Linkage Import",
    "fields": {"EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}", "OpportunityID": "{{Opportunity.Id}}"},
    "linkOpportunitiesCaseSensitiveMatchField": False,
    "linkOpportunitiesCaseSensitiveSourceField": False,
    "linkOpportunitiesEntityType": "Contact",
    "linkOpportunitiesMatchFieldName": "OpportunityID",
    "linkOpportunitiesMultipleSourceMatches": True,
    "linkOpportunitiesSourceField": "EmailAddress",
}


def failures(response):
    assert response.status_code == 400, response.content
    return {f["field"]: f["constraint"] for f in response.json()["failures"]}


def test_tutorial_definition_is_echoed_with_identifier_field_name(api, other_api):
    response = api.post(IMPORTS, TUTORIAL, format="json")
    assert response.status_code == 201, response.content
    out = response.json()
    assert list(out)[:6] == [
        "linkOpportunitiesMatchFieldName", "linkOpportunitiesSourceField", "linkOpportunitiesEntityType",
        "linkOpportunitiesCaseSensitiveSourceField", "linkOpportunitiesCaseSensitiveMatchField",
        "linkOpportunitiesMultipleSourceMatches",
    ]  # fmt: skip
    assert out["identifierFieldName"] == "OpportunityID" and out["linkOpportunitiesMultipleSourceMatches"] is True
    assert out["fields"] == TUTORIAL["fields"] and "isIdentifierFieldCaseSensitive" not in out
    assert out["uri"].startswith("/opportunities/contacts/imports/")
    assert api.get("/api/bulk/2.0" + out["uri"]).json() == out
    assert other_api.get("/api/bulk/2.0" + out["uri"]).status_code == 404
    listed = api.get(IMPORTS).json()
    assert [d["uri"] for d in listed["items"]] == [out["uri"]]
    assert api.get("/api/bulk/2.0/opportunities/imports").json()["items"] == []
    put = api.put(
        "/api/bulk/2.0" + out["uri"], {**TUTORIAL, "linkOpportunitiesMultipleSourceMatches": None}, format="json"
    )
    assert put.status_code == 200 and put.json()["linkOpportunitiesMultipleSourceMatches"] is False
    assert api.delete("/api/bulk/2.0" + out["uri"]).status_code == 204


def test_defaults_when_only_fields_are_given(api):
    body = {"name": "x", "fields": {"Opp": "{{Opportunity.Id}}", "Co": "{{Opportunity.Account.Field(M_CompanyName)}}"}}
    out = api.post(IMPORTS, body, format="json").json()
    assert out["linkOpportunitiesMatchFieldName"] == "Opp" and out["identifierFieldName"] == "Opp"
    assert out["linkOpportunitiesSourceField"] == "Co" and out["linkOpportunitiesEntityType"] == "Account"
    assert out["linkOpportunitiesCaseSensitiveMatchField"] is False
    assert out["linkOpportunitiesCaseSensitiveSourceField"] is False
    assert out["linkOpportunitiesMultipleSourceMatches"] is False
    lower = api.post(IMPORTS, {**TUTORIAL, "linkOpportunitiesEntityType": "contact"}, format="json")
    assert lower.status_code == 201 and lower.json()["linkOpportunitiesEntityType"] == "Contact"


def test_more_than_two_fields_is_400(api):
    fields = {**TUTORIAL["fields"], "Name": "{{Opportunity.Contact.Field(C_LastName)}}"}
    assert "fields" in failures(api.post(IMPORTS, {**TUTORIAL, "fields": fields}, format="json"))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"fields": {"OpportunityID": "{{Opportunity.Id}}"}}, "fields"),
        ({"fields": {"EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}"}}, "fields"),
        ({"fields": {"E": "{{Contact.Field(C_EmailAddress)}}", "OpportunityID": "{{Opportunity.Id}}"}}, "fields.E"),
        ({"fields": {"E": "{{Opportunity.Contact.Field(Nope)}}", "OpportunityID": "{{Opportunity.Id}}"}}, "fields.E"),
        ({"linkOpportunitiesEntityType": "Account"}, "linkOpportunitiesEntityType"),
        ({"linkOpportunitiesEntityType": "Lead"}, "linkOpportunitiesEntityType"),
        ({"linkOpportunitiesMatchFieldName": "EmailAddress"}, "linkOpportunitiesMatchFieldName"),
        ({"linkOpportunitiesSourceField": "OpportunityID"}, "linkOpportunitiesSourceField"),
        ({"linkOpportunitiesSourceField": "Missing"}, "linkOpportunitiesSourceField"),
        ({"identifierFieldName": "EmailAddress"}, "identifierFieldName"),
        ({"linkOpportunitiesMultipleSourceMatches": "maybe"}, "linkOpportunitiesMultipleSourceMatches"),
    ],
)
def test_invalid_definitions_are_400_naming_the_property(api, change, field):
    assert field in failures(api.post(IMPORTS, {**TUTORIAL, **change}, format="json"))


def test_fields_endpoint_is_not_served_for_linkage(api):
    assert api.get("/api/bulk/2.0/opportunities/contacts/fields").status_code == 404
