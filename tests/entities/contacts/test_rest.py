"""Contacts and accounts over REST: CRUD, validation, filters, paging, linked opportunities, tenancy."""

import pytest

from entities.contacts.models import Account, Contact
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import OpportunityContactFactory, OpportunityFactory

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


def test_contact_crud(api):
    acme = AccountFactory(site=api.site, name="Acme")
    created = api.post(
        f"{V1}/contacts",
        {"email": "  Ann@Example.com ", "firstName": "Ann", "accountId": str(acme.uuid), "customFields": {"x": 1}},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == "Ann@Example.com" and body["firstName"] == "Ann" and body["lastName"] is None
    assert body["account"] == {"id": str(acme.uuid), "name": "Acme"} and body["customFields"] == {"x": 1}
    url = f"{V1}/contacts/{body['id']}"
    assert api.get(url).json() == body
    patched = api.patch(url, {"lastName": "Smith", "accountId": None}, format="json")
    assert patched.status_code == 200
    assert patched.json()["lastName"] == "Smith" and patched.json()["firstName"] == "Ann"
    assert patched.json()["account"] is None and patched.json()["updatedAt"] >= body["updatedAt"]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404 and not Contact.objects.exists()


def test_contact_validation(api):
    ContactFactory(site=api.site, email="taken@example.com")
    cases = [
        ({"email": "not-an-email"}, "email"),
        ({"email": "TAKEN@example.com"}, "email"),
        ({"email": "a@b.com", "phone": "call me"}, "phone"),
        ({"email": "a@b.com", "accountId": "00000000-0000-0000-0000-000000000000"}, "accountId"),
        ({"email": "a@b.com", "firstName": "x" * 101}, "firstName"),
    ]
    for payload, field in cases:
        response = api.post(f"{V1}/contacts", payload, format="json")
        assert response.status_code == 400, payload
        assert response.json()["code"] == "validation_error"
        assert response.json()["failures"][0]["field"] == field, response.json()


def test_account_crud_normalises_domain(api):
    created = api.post(
        f"{V1}/accounts", {"name": "Acme", "domain": "https://www.Acme.com/x", "externalId": "A1"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["domain"] == "acme.com" and body["externalId"] == "A1"
    url = f"{V1}/accounts/{body['id']}"
    assert api.patch(url, {"city": "Paris"}, format="json").json()["city"] == "Paris"
    assert api.patch(url, {"domain": "no domain"}, format="json").status_code == 400
    assert api.post(f"{V1}/accounts", {"name": "Other", "externalId": "A1"}, format="json").status_code == 400
    assert api.post(f"{V1}/accounts", {"domain": "x.com"}, format="json").status_code == 400
    assert api.delete(url).status_code == 204 and not Account.objects.exists()


def test_filters_and_paging(api):
    acme = AccountFactory(site=api.site, name="Acme Corp", domain="acme.com", external_id="A1")
    AccountFactory(site=api.site, name="Beta", domain="beta.io")
    ContactFactory(site=api.site, email="Ann@acme.com", first_name="Ann", account=acme)
    ContactFactory(site=api.site, email="bob@beta.io", last_name="Annison")
    for i in range(3):
        ContactFactory(site=api.site, email=f"p{i}@x.com")

    def emails(query):
        response = api.get(f"{V1}/contacts{query}")
        assert response.status_code == 200, response.content
        return [c["email"] for c in response.json()["items"]]

    assert emails("?email=ann@ACME.com") == ["Ann@acme.com"]
    assert emails("?name=ann") == ["Ann@acme.com", "bob@beta.io"]
    assert emails(f"?accountId={acme.uuid}") == ["Ann@acme.com"]
    assert emails("?updatedSince=2999-01-01T00:00:00Z") == []
    page = api.get(f"{V1}/contacts?limit=2&offset=1").json()
    assert {k: page[k] for k in ("totalResults", "limit", "offset", "count", "hasMore")} == {
        "totalResults": 5, "limit": 2, "offset": 1, "count": 2, "hasMore": True,
    }  # fmt: skip
    bad = api.get(f"{V1}/contacts?limit=5000")
    assert bad.status_code == 400 and bad.json()["failures"][0]["field"] == "limit"
    assert api.get(f"{V1}/contacts?accountId=nope").status_code == 400
    names = [a["name"] for a in api.get(f"{V1}/accounts?domain=WWW.ACME.COM").json()["items"]]
    assert names == ["Acme Corp"]
    assert [a["name"] for a in api.get(f"{V1}/accounts?externalId=A1").json()["items"]] == ["Acme Corp"]
    assert api.get(f"{V1}/accounts?name=bet").json()["totalResults"] == 1


def test_linked_opportunities_and_contacts(api, django_assert_max_num_queries):
    acme = AccountFactory(site=api.site)
    ann = ContactFactory(site=api.site, account=acme)
    opps = [OpportunityFactory(site=api.site, company=acme) for _ in range(3)]
    for opp in opps[:2]:
        OpportunityContactFactory(site=api.site, opportunity=opp, contact=ann)
    with django_assert_max_num_queries(6):  # auth (2) + contact + count + page + tags, whatever its size
        linked = api.get(f"{V1}/contacts/{ann.uuid}/opportunities").json()
    assert [o["externalId"] for o in linked["items"]] == [o.external_id for o in opps[:2]]
    # the same items as /api/v1/opportunities (amount a JSON number)
    assert linked["items"][0] == api.get(f"{V1}/opportunities/{opps[0].uuid}").json()
    assert (
        linked["items"][0]["amount"] == 100.0 and linked["items"][0]["opportunityStage"]["name"] == opps[0].stage.name
    )
    assert api.get(f"{V1}/accounts/{acme.uuid}/opportunities").json()["totalResults"] == 3
    with django_assert_max_num_queries(6):  # auth + opportunity + count + page (one query for all rows)
        contacts = api.get(f"{V1}/opportunities/{opps[0].uuid}/contacts").json()
    assert [c["id"] for c in contacts["items"]] == [str(ann.uuid)]
    assert api.get(f"{V1}/opportunities/{opps[2].uuid}/contacts").json()["items"] == []


def test_other_sites_records_are_404(api, other_api):
    acme = AccountFactory(site=api.site)
    ann = ContactFactory(site=api.site, account=acme)
    opp = OpportunityFactory(site=api.site)
    for url in (
        f"{V1}/contacts/{ann.uuid}",
        f"{V1}/accounts/{acme.uuid}",
        f"{V1}/contacts/{ann.uuid}/opportunities",
        f"{V1}/accounts/{acme.uuid}/opportunities",
        f"{V1}/opportunities/{opp.uuid}/contacts",
    ):
        assert other_api.get(url).status_code == 404, url
    assert other_api.patch(f"{V1}/contacts/{ann.uuid}", {"firstName": "x"}, format="json").status_code == 404
    assert other_api.delete(f"{V1}/accounts/{acme.uuid}").status_code == 404
    assert other_api.get(f"{V1}/contacts").json()["totalResults"] == 0
    theirs = other_api.post(f"{V1}/contacts", {"email": "x@y.com", "accountId": str(acme.uuid)}, format="json")
    assert theirs.status_code == 400 and theirs.json()["failures"][0]["field"] == "accountId"
    assert api.get(f"{V1}/contacts").status_code == 200


def test_openapi_schema_builds(api):
    response = api.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/contacts/{id}/opportunities" in text and "/api/v1/opportunities/{id}/contacts" in text
