"""The tutorial's linkage flow over real HTTP with a real Celery worker: accounts, contacts and
opportunities imported through the Bulk API, then linked by e-mail and by account."""

import pytest
import requests

from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity
from tests.conftest import wait_for
from tests.factories import SiteFactory, TokenFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]


@pytest.fixture
def http(live_server, currencies):
    site = SiteFactory(name="LinkCo")
    token = TokenFactory(user=UserFactory(site=site, username="API.User"))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.raw}"
    session.base = f"{live_server.url}/API/Bulk/2.0"
    session.v1 = f"{live_server.url}/api/v1"
    session.site = site
    return session


def run(http, path, definition, rows):
    """POST the definition, upload the rows, sync, and poll until the sync ends."""
    created = http.post(http.base + path, json=definition)
    assert created.status_code == 201, created.text
    uri = created.json()["uri"]
    assert http.post(http.base + uri + "/data", json=rows).status_code == 204
    sync = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri})
    assert sync.status_code == 201, sync.text
    sync_uri = sync.json()["uri"]
    final = wait_for(
        lambda: (s := http.get(http.base + sync_uri).json())["status"] in ("success", "warning", "error") and s,
        timeout=60,
    )
    logs = {e["statusCode"]: e for e in http.get(http.base + sync_uri + "/logs").json()["items"]}
    rejects = http.get(http.base + sync_uri + "/rejects").json()["items"]
    return uri, final, logs, rejects


def seed(http):
    _, final, logs, _ = run(
        http,
        "/accounts/imports",
        {"name": "Accounts", "fields": {"CompanyIDExt": "{{Account.Field(CompanyIDExt)}}",
         "CompanyName": "{{Account.Field(M_CompanyName)}}", "Domain": "{{Account.Field(M_Domain)}}"},
         "identifierFieldName": "CompanyIDExt"},
        [{"CompanyIDExt": "ABC", "CompanyName": "ABC Company", "Domain": "www.abccompany.com"},
         {"CompanyIDExt": "XYZ", "CompanyName": "XYZ Corp", "Domain": "xyz.example"}],
    )  # fmt: skip
    assert final["status"] == "success" and logs["ELQ-00005"]["message"] == "Accounts created."
    _, final, logs, _ = run(
        http,
        "/contacts/imports",
        {"name": "Contacts", "fields": {"EmailAddress": "{{Contact.Field(C_EmailAddress)}}",
         "FirstName": "{{Contact.Field(C_FirstName)}}", "Company": "{{Contact.Account.Field(CompanyIDExt)}}"},
         "identifierFieldName": "EmailAddress"},
        [{"EmailAddress": "contact1@abccompany.com", "FirstName": "One", "Company": "ABC"},
         {"EmailAddress": "contact2@abccompany.com", "FirstName": "Two", "Company": "ABC"},
         {"EmailAddress": "someone@xyz.example", "FirstName": "Three", "Company": "XYZ"}],
    )  # fmt: skip
    assert final["status"] == "success" and logs["ELQ-00004"]["count"] == 3
    _, final, _, _ = run(
        http,
        "/opportunities/imports",
        {"name": "Opportunities", "fields": {"OpportunityID": "{{Opportunity.Id}}",
         "OpportunityName": "{{Opportunity.Field(Name)}}", "Amount": "{{Opportunity.Field(Amount)}}",
         "Stage": "{{Opportunity.Field(Stage)}}"}, "identifierFieldName": "OpportunityID"},
        [{"OpportunityID": str(i), "OpportunityName": f"Opportunity {i}", "Amount": "1000000", "Stage": "Prospecting"}
         for i in (1, 2, 3)],
    )  # fmt: skip
    assert final["status"] == "success"


def test_linkage_by_email_then_again_adds_nothing(http):
    seed(http)
    definition = {
        "name": "Opportunity Contact Linkage Import",
        "fields": {
            "EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}",
            "OpportunityID": "{{Opportunity.Id}}",
        },
        "linkOpportunitiesCaseSensitiveMatchField": False,
        "linkOpportunitiesCaseSensitiveSourceField": False,
        "linkOpportunitiesEntityType": "Contact",
        "linkOpportunitiesMatchFieldName": "OpportunityID",
        "linkOpportunitiesMultipleSourceMatches": True,
        "linkOpportunitiesSourceField": "EmailAddress",
    }
    rows = [
        {"OpportunityID": "1", "EmailAddress": "contact1@abccompany.com"},
        {"OpportunityID": "2", "EmailAddress": "CONTACT2@abccompany.com"},
        {"OpportunityID": "99", "EmailAddress": "contact1@abccompany.com"},
        {"OpportunityID": "1", "EmailAddress": "nobody@abccompany.com"},
    ]
    uri, final, logs, rejects = run(http, "/opportunities/contacts/imports", definition, rows)
    assert final["status"] == "warning"
    # the Eloqua door answers Eloqua's codes only (our linkage counters are in the REST API and the admin)
    assert logs["ELQ-00049"]["count"] == 2 and logs["ELQ-00060"]["count"] == 2
    assert all(code.startswith("ELQ-") for code in logs)
    assert [(r["recordIndex"], r["statusCode"], r["message"]) for r in rejects] == [
        (3, "ELQ-00084", "Opportunity does not exist."),
        (4, "ELQ-00085", "Contact does not exist."),
    ]
    assert OpportunityContact.objects.filter(site=http.site).count() == 2

    # the same rows again on the same definition: no duplicate links
    assert http.post(http.base + uri + "/data", json=rows).status_code == 204
    again = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri}).json()
    final = wait_for(lambda: (s := http.get(http.base + again["uri"]).json())["status"] != "pending" and
                     s["status"] != "active" and s)  # fmt: skip
    assert final["status"] == "warning" and final["progress"]["created"] == 0
    assert OpportunityContact.objects.filter(site=http.site).count() == 2

    opp = Opportunity.objects.get(site=http.site, external_id="1")
    contacts = http.get(f"{http.v1}/opportunities/{opp.uuid}/contacts").json()["items"]
    assert [c["email"] for c in contacts] == ["contact1@abccompany.com"]


def test_linkage_by_account_links_every_contact_of_the_account(http):
    seed(http)
    definition = {
        "name": "By account",
        "fields": {"OpportunityID": "{{Opportunity.Id}}", "Company": "{{Opportunity.Account.Field(M_CompanyName)}}"},
        "linkOpportunitiesEntityType": "Account",
    }
    rows = [{"OpportunityID": "3", "Company": "abc company"}, {"OpportunityID": "2", "Company": "Nope Inc"}]
    _, final, logs, rejects = run(http, "/opportunities/contacts/imports", definition, rows)
    assert final["status"] == "warning"
    # no account matched: Eloqua's "Contact does not exist." (its Account mode finds no contact)
    assert [(r["recordIndex"], r["statusCode"], r["message"], r["invalidFields"]) for r in rejects] == [
        (2, "ELQ-00085", "Contact does not exist.", ["Company"])
    ]
    assert logs["ELQ-00049"]["count"] == 1
    opp = Opportunity.objects.select_related("company").get(site=http.site, external_id="3")
    assert opp.company.name == "ABC Company"
    contacts = http.get(f"{http.v1}/opportunities/{opp.uuid}/contacts").json()["items"]
    assert sorted(c["email"] for c in contacts) == ["contact1@abccompany.com", "contact2@abccompany.com"]
    account = http.get(f"{http.v1}/accounts", params={"domain": "abccompany.com"}).json()["items"][0]
    linked = http.get(f"{http.v1}/accounts/{account['id']}/opportunities").json()["items"]
    assert [o["externalId"] for o in linked] == ["3"]


@pytest.mark.parametrize(
    "field, value_of",
    [
        ("Field(CompanyIDExt)", lambda account: account["externalId"]),
        ("Field(M_CompanyName)", lambda account: account["name"]),
        ("Id", lambda account: account["id"]),
    ],
)
def test_the_linkage_by_account_flow_works_with_each_account_identifier(http, field, value_of):
    """Accounts, then contacts naming their account by the identifier, then opportunities linked by
    account by the same identifier: every contact of the account is linked, whichever identifier."""
    _, final, _, _ = run(
        http,
        "/accounts/imports",
        {"name": "Accounts", "fields": {"CompanyIDExt": "{{Account.Field(CompanyIDExt)}}",
         "CompanyName": "{{Account.Field(M_CompanyName)}}"}, "identifierFieldName": "CompanyIDExt"},
        [{"CompanyIDExt": "ABC", "CompanyName": "ABC Company"}, {"CompanyIDExt": "XYZ", "CompanyName": "XYZ Corp"}],
    )  # fmt: skip
    assert final["status"] == "success"
    accounts = {a["externalId"]: a for a in http.get(f"{http.v1}/accounts").json()["items"]}
    abc, xyz = value_of(accounts["ABC"]), value_of(accounts["XYZ"])
    _, final, logs, rejects = run(
        http,
        "/contacts/imports",
        {"name": "Contacts", "fields": {"EmailAddress": "{{Contact.Field(C_EmailAddress)}}",
         "Company": f"{{{{Contact.Account.{field}}}}}"}, "identifierFieldName": "EmailAddress"},
        [{"EmailAddress": "one@abc.example", "Company": abc}, {"EmailAddress": "two@abc.example", "Company": abc},
         {"EmailAddress": "three@xyz.example", "Company": xyz}],
    )  # fmt: skip
    assert final["status"] == "success", rejects
    assert logs["ELQ-00004"]["count"] == 3
    _, final, _, _ = run(
        http,
        "/opportunities/imports",
        {"name": "Opportunities", "fields": {"OpportunityID": "{{Opportunity.Id}}",
         "OpportunityName": "{{Opportunity.Field(Name)}}", "Amount": "{{Opportunity.Field(Amount)}}",
         "Stage": "{{Opportunity.Field(Stage)}}"}, "identifierFieldName": "OpportunityID"},
        [{"OpportunityID": "O-1", "OpportunityName": "One", "Amount": "10", "Stage": "Prospecting"}],
    )  # fmt: skip
    assert final["status"] == "success"
    _, final, logs, rejects = run(
        http,
        "/opportunities/contacts/imports",
        {"name": "By account", "fields": {"OpportunityID": "{{Opportunity.Id}}",
         "Company": f"{{{{Opportunity.Account.{field}}}}}"}, "linkOpportunitiesEntityType": "Account"},
        [{"OpportunityID": "O-1", "Company": abc}],
    )  # fmt: skip
    assert final["status"] == "success", rejects
    assert logs["ELQ-00049"]["count"] == 1
    opp = Opportunity.objects.get(site=http.site, external_id="O-1")
    linked = http.get(f"{http.v1}/opportunities/{opp.uuid}/contacts").json()["items"]
    assert sorted(c["email"] for c in linked) == ["one@abc.example", "two@abc.example"]
    assert {c["account"]["name"] for c in linked} == {"ABC Company"}
