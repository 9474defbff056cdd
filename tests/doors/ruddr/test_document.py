"""The Ruddr document's own example (`seeds/002_0448e57d8042c99a.txt`), sent as written."""

import json
import re
import uuid
from decimal import Decimal

import pytest

from entities.contacts.models import Account
from entities.opportunities.models import Opportunity, Stage
from tests.factories import (
    ClientFactory,
    LeadSourceFactory,
    OpportunityTypeFactory,
    OwnerFactory,
    PracticeFactory,
    ProjectFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/workspace/opportunities"

# The document's example request, verbatim.
DOC_REQUEST = """
{
  "name": "<string>",
  "companyId": "<string>",
  "opportunityStageId": "<string>",
  "description": "<string>",
  "nextSteps": "<string>",
  "amount": 123,
  "isActive": true,
  "probability": 123,
  "closeDate": "2023-12-25",
  "priorityId": "high",
  "currency": "<string>",
  "ownerId": "<string>",
  "opportunityLeadSourceId": "<string>",
  "opportunityTypeId": "<string>",
  "tagIds": [
    "<string>"
  ],
  "practiceId": "<string>",
  "projects": [
    {
      "id": "<string>",
      "amount": 123
    }
  ],
  "cloudFolderUrl": "<string>"
}
"""

# The document's example response, verbatim.
DOC_RESPONSE = """
{
  "id": "7bcf2403-c6ea-4f9a-a9fa-bfa53a0d43b8",
  "name": "Acme Corp - Mobile App",
  "description": "Proposal for a new mobile application.",
  "nextSteps": "Follow up with client on proposal.",
  "amount": 50000,
  "isActive": true,
  "probability": 0.75,
  "priorityId": "high",
  "createdAt": "2025-01-15T20:47:03.284Z",
  "openDate": "2025-01-15",
  "closeDate": "2025-06-30",
  "modifiedAt": "2025-01-15T20:47:03.284Z",
  "currency": "USD",
  "cloudFolderUrl": "https://drive.google.com/drive/folders/abc123",
  "owner": {
    "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "name": "John Davis"
  },
  "opportunityType": {
    "id": "b2c3d4e5-f6a7-8901-bcde-f12345678901",
    "name": "New Business"
  },
  "opportunityLeadSource": {
    "id": "c3d4e5f6-a7b8-9012-cdef-123456789012",
    "name": "Referral"
  },
  "company": {
    "id": "d4e5f6a7-b8c9-0123-4567-89abcdef0123",
    "name": "Acme Corp",
    "client": {
      "id": "e5f6a7b8-c9d0-1234-5678-9abcdef01234",
      "key": "acme-corp",
      "name": "Acme Corp"
    }
  },
  "practice": {
    "id": "f6a7b8c9-d0e1-2345-6789-abcdef012345",
    "name": "Consulting"
  },
  "tags": [
    {
      "id": "1a2b3c4d-5e6f-7890-abcd-ef1234567890",
      "name": "Enterprise"
    }
  ],
  "opportunityStage": {
    "id": "2b3c4d5e-6f7a-8901-bcde-f12345678901",
    "name": "Proposal",
    "statusId": "open"
  },
  "projects": [
    {
      "id": "3c4d5e6f-7a8b-9012-cdef-123456789012",
      "name": "Mobile App Development",
      "amount": 50000
    }
  ],
  "weightedAmount": 37500,
  "timeSpent": 0,
  "salesforceId": "0060b00000BkFxAAAV",
  "hubspotId": "12345678"
}
"""

# The response properties the document types "… | null".
NULLABLE = {
    "description",
    "nextSteps",
    "amount",
    "priorityId",
    "openDate",
    "closeDate",
    "cloudFolderUrl",
    "weightedAmount",
    "salesforceId",
    "hubspotId",
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def assert_same_shape(ours, doc, path="", nullable=frozenset()):
    """Field by field: the same names, and each value of the document's JSON type (null only
    where the document allows it); ids are uuid strings, dates and times in the document's form."""
    if isinstance(doc, dict):
        assert isinstance(ours, dict), path
        assert list(ours) == list(doc), path  # every field, in the document's order
        for key in doc:
            name = f"{path}.{key}" if path else key
            if ours[key] is None and key in nullable and not path:
                continue
            assert_same_shape(ours[key], doc[key], name)
        return
    if isinstance(doc, list):
        assert isinstance(ours, list) and len(ours) == len(doc), path
        for i, (a, b) in enumerate(zip(ours, doc, strict=True)):
            assert_same_shape(a, b, f"{path}[{i}]")
        return
    assert json_type(ours) == json_type(doc), (path, ours, doc)
    if path.rsplit(".", 1)[-1] == "id":
        assert str(uuid.UUID(ours)) == ours, path
    if ISO_DATE.match(str(doc)):
        assert ISO_DATE.match(ours), path
    if ISO_DATETIME.match(str(doc)):
        assert ISO_DATETIME.match(ours), path
    if path == "timeSpent":
        assert isinstance(ours, int)


@pytest.fixture
def world(api):
    """The records the document's example names, as the document's response shows them."""
    site = api.site
    company = Account.objects.create(site=site, name="Acme Corp")
    client = ClientFactory(site=site, key="acme-corp", name="Acme Corp", company=company)
    return {
        "companyId": company,
        "client": client,
        "opportunityStageId": Stage.objects.get(site=site, name="Proposal"),
        "ownerId": OwnerFactory(site=site, name="John Davis"),
        "opportunityLeadSourceId": LeadSourceFactory(site=site, name="Referral"),
        "opportunityTypeId": OpportunityTypeFactory(site=site, name="New Business"),
        "tagIds": TagFactory(site=site, name="Enterprise"),
        "practiceId": PracticeFactory(site=site, name="Consulting"),
        "projects": ProjectFactory(site=site, name="Mobile App Development", client=client),
    }


def doc_request(world) -> dict:
    """The document's request with only the ids of the records it names filled in."""
    body = json.loads(DOC_REQUEST)
    for key, record in world.items():
        if key == "tagIds":
            body[key] = [str(record.uuid)]
        elif key == "projects":
            body[key][0]["id"] = str(record.uuid)
        elif key in body:
            body[key] = str(record.uuid)
    return body


def test_the_documents_placeholders_that_break_its_own_rules_are_400s_naming_them(api, world):
    # given the example exactly as written: `probability: 123` (the document: "0 to 1") and
    # `currency: "<string>"` (the document: "the 3-letter currency code")
    response = api.post(URL, doc_request(world), format="json")

    # then exactly those two are refused, each named; nothing is stored
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert sorted(f["field"] for f in body["failures"]) == ["currency", "probability"]
    assert not Opportunity.objects.filter(site=api.site).exists()


def test_the_documents_example_request_answers_200_in_the_documents_shape(api, world):
    # given the document's request, ids of our records in place of its "<string>"s and valid
    # values for the two placeholders its own rules refuse
    body = doc_request(world)
    body["probability"] = 0.75
    body["currency"] = "USD"

    # when
    response = api.post(URL, body, format="json")

    # then
    assert response.status_code == 200, response.content
    out = response.json()
    doc = json.loads(DOC_RESPONSE)
    assert_same_shape(out, doc, nullable=NULLABLE)
    assert out["salesforceId"] is None and out["hubspotId"] is None  # not given, not synced
    opp = Opportunity.objects.get(site=api.site, uuid=out["id"])
    assert out["name"] == "<string>" and out["description"] == "<string>" and out["nextSteps"] == "<string>"
    assert out["amount"] == 123 and out["probability"] == 0.75 and out["weightedAmount"] == 92.25
    assert out["closeDate"] == "2023-12-25" and out["priorityId"] == "high" and out["currency"] == "USD"
    assert out["cloudFolderUrl"] == "<string>" and out["timeSpent"] == 0 and out["isActive"] is True
    # the references read back as the document shows them
    assert out["owner"] == {"id": str(world["ownerId"].uuid), "name": "John Davis"}
    assert out["opportunityType"] == {"id": str(world["opportunityTypeId"].uuid), "name": "New Business"}
    assert out["opportunityLeadSource"] == {"id": str(world["opportunityLeadSourceId"].uuid), "name": "Referral"}
    assert out["practice"] == {"id": str(world["practiceId"].uuid), "name": "Consulting"}
    assert out["tags"] == [{"id": str(world["tagIds"].uuid), "name": "Enterprise"}]
    stage = world["opportunityStageId"]
    assert out["opportunityStage"] == {"id": str(stage.uuid), "name": "Proposal", "statusId": "open"}
    assert out["company"] == {
        "id": str(world["companyId"].uuid),
        "name": "Acme Corp",
        "client": {"id": str(world["client"].uuid), "key": "acme-corp", "name": "Acme Corp"},
    }
    project = world["projects"]
    assert out["projects"] == [{"id": str(project.uuid), "name": "Mobile App Development", "amount": 123}]
    # stored in the one domain the other doors read
    assert opp.lead_source == world["opportunityLeadSourceId"] and opp.practice == world["practiceId"]
    assert opp.project_lines.get().amount == Decimal(123)
    assert api.get(f"/api/v1/opportunities/{out['id']}").json()["name"] == "<string>"

    # and: once synced, the Salesforce and HubSpot ids read back as strings, in the same shape
    patched = api.patch(
        f"{URL}/{out['id']}", {"salesforceId": "0060b00000BkFxAAAV", "hubspotId": "12345678"}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert_same_shape(patched.json(), doc, nullable=NULLABLE)
    assert patched.json()["salesforceId"] == "0060b00000BkFxAAAV" and patched.json()["hubspotId"] == "12345678"
    assert api.get(f"{URL}/{out['id']}").json() == patched.json()


def test_the_documents_example_response_values_round_trip(api, world):
    # given the document's example response's own values, set through this door
    stage = world["opportunityStageId"]
    Stage.objects.filter(pk=stage.pk).update(probability=Decimal("0.5"))
    body = {k: v for k, v in doc_request(world).items()}
    body.update(
        name="Acme Corp - Mobile App",
        description="Proposal for a new mobile application.",
        nextSteps="Follow up with client on proposal.",
        amount=50000,
        probability=0.75,
        closeDate="2025-06-30",
        currency="USD",
        cloudFolderUrl="https://drive.google.com/drive/folders/abc123",
        salesforceId="0060b00000BkFxAAAV",
        hubspotId="12345678",
    )
    body["projects"][0]["amount"] = 50000

    # when
    out = api.post(URL, body, format="json").json()

    # then every value but ids, names of our records and times is the document's
    doc = json.loads(DOC_RESPONSE)
    assert_same_shape(out, doc)
    for key in ("name", "description", "nextSteps", "amount", "isActive", "probability", "priorityId", "closeDate"):
        assert out[key] == doc[key], key
    for key in ("currency", "cloudFolderUrl", "weightedAmount", "timeSpent", "salesforceId", "hubspotId"):
        assert out[key] == doc[key], key
    assert out["projects"][0]["amount"] == 50000 and isinstance(out["amount"], int)
