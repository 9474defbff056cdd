"""Contact and account Bulk imports: fields, definitions, and set-based syncs (create, update, rejects)."""

import pytest

from entities.contacts.models import Account, Contact
from pipeline.models import CustomField, Reject, SyncLog
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import UserFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db
BULK = "/api/bulk/2.0"
CONTACT_FIELDS = {
    "Email": "{{Contact.Field(C_EmailAddress)}}",
    "First": "{{Contact.Field(C_FirstName)}}",
    "Last": "{{Contact.Field(C_LastName)}}",
    "Phone": "{{Contact.Field(C_BusPhone)}}",
    "CompanyId": "{{Contact.Account.Field(CompanyIDExt)}}",
}
ACCOUNT_FIELDS = {
    "CompanyId": "{{Account.Field(CompanyIDExt)}}",
    "Name": "{{Account.Field(M_CompanyName)}}",
    "Domain": "{{Account.Field(M_Domain)}}",
    "City": "{{Account.Field(M_City)}}",
}


def define(site, entity, fields, ident, **extra):
    from pipeline.services.imports import import_definition_create

    body = {"name": "import", "fields": fields, "identifierFieldName": ident, **extra}
    return import_definition_create(site=site, user=UserFactory(site=site), entity=entity, body=body)


def rejects(sync):
    return {r.record_index: (r.status_code, r.invalid_fields) for r in Reject.objects.filter(sync=sync)}


def logs(sync):
    return {(log.status_code, log.message): log.count for log in SyncLog.objects.filter(sync=sync)}


def test_fields_list_standard_and_custom_but_not_system_statements(api):
    CustomField.objects.create(
        site=api.site, entity="contact", name="Shoe size", internal_name="C_Shoe", data_type="number"
    )
    items = api.get(f"{BULK}/contacts/fields").json()["items"]
    statements = [f["statement"] for f in items]
    assert "{{Contact.Field(C_EmailAddress)}}" in statements and "{{Contact.Field(C_Shoe)}}" in statements
    assert "{{Contact.Id}}" not in statements
    email = next(f for f in items if f["internalName"] == "C_EmailAddress")
    assert email == {
        "name": "Email Address", "internalName": "C_EmailAddress", "dataType": "emailAddress",
        "hasReadOnlyConstraint": False, "hasNotNullConstraint": False, "hasUniquenessConstraint": True,
        "statement": "{{Contact.Field(C_EmailAddress)}}", "uri": "/contacts/fields/100001",
    }  # fmt: skip
    assert api.get(f"{BULK}/contacts/fields/100001").json()["internalName"] == "C_EmailAddress"
    accounts = [f["internalName"] for f in api.get(f"{BULK}/accounts/fields").json()["items"]]
    assert accounts == ["M_CompanyName", "CompanyIDExt", "M_Domain", "M_City", "M_Country"]


def test_definitions_over_http_and_identifier_rules(api, other_api):
    created = api.post(
        f"{BULK}/contacts/imports",
        {"name": "c", "fields": CONTACT_FIELDS, "identifierFieldName": "Email", "syncActions": None},
        format="json",
    )
    assert created.status_code == 201, created.content
    uri = created.json()["uri"]
    assert uri.startswith("/contacts/imports/") and created.json()["fields"] == CONTACT_FIELDS
    assert api.get(BULK + uri).status_code == 200 and other_api.get(BULK + uri).status_code == 404
    bad = api.post(f"{BULK}/contacts/imports", {"name": "c", "fields": CONTACT_FIELDS, "identifierFieldName": "First"},
                   format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["failures"][0]["field"] == "identifierFieldName"
    with_id = api.post(
        f"{BULK}/accounts/imports",
        {
            "name": "a",
            "fields": {"Id": "{{Account.Id}}", "City": "{{Account.Field(M_City)}}"},
            "identifierFieldName": "Id",
        },
        format="json",
    )
    assert with_id.status_code == 201
    wrong_entity = api.post(f"{BULK}/accounts/imports", {"name": "a", "fields": CONTACT_FIELDS, "identifierFieldName": "Email"},
                            format="json")  # fmt: skip
    assert wrong_entity.status_code == 400


def test_contact_sync_creates_updates_and_rejects(site):
    acme = AccountFactory(site=site, external_id="ACME")
    ContactFactory(site=site, email="Old@Example.com", first_name="Old")
    definition = define(site, "contact", CONTACT_FIELDS, "Email")
    sync = run_sync(definition, [
        {"Email": "new@example.com", "First": "New", "Phone": "+1 (555) 010-2030", "CompanyId": "ACME"},
        {"Email": "old@EXAMPLE.com", "First": "Updated"},
        {"Email": "not-an-email", "First": "x"},
        {"Email": "ghost@example.com", "CompanyId": "NOPE"},
        {"Email": "NEW@example.com", "First": "dup"},
        {"Email": "", "First": "nobody"},
        {"Email": "p@example.com", "Phone": "call me"},
    ])  # fmt: skip
    assert sync.status == "warning"
    assert rejects(sync) == {
        3: ("ELQ-00032", ["Email"]),
        4: ("SRV-00085", ["CompanyId"]),
        5: ("ELQ-00026", ["Email"]),
        6: ("ELQ-00061", ["Email"]),
        7: ("ELQ-00032", ["Phone"]),
    }
    new = Contact.objects.get(site=site, email="new@example.com")
    assert new.account == acme and new.phone == "+1 (555) 010-2030" and new.first_name == "New"
    old = Contact.objects.get(site=site, email__iexact="old@example.com")
    assert old.first_name == "Updated" and old.email == "Old@Example.com"  # identifier never rewritten
    counts = logs(sync)
    assert counts[("ELQ-00004", "Contacts created.")] == 1 and counts[("ELQ-00022", "Contacts updated.")] == 1
    assert counts[("SRV-00085", "Account does not exist.")] == 1

    again = run_sync(definition, [{"Email": "NEW@EXAMPLE.COM", "Last": "Later"}])
    assert again.status == "success" and again.updated_count == 1 and again.created_count == 0
    new.refresh_from_db()
    assert new.last_name == "Later" and new.first_name is None  # updateRule always: empty clears


def test_contact_external_id_identifier_and_taken_email(site):
    ContactFactory(site=site, email="taken@example.com", external_id="C-1")
    definition = define(
        site, "contact",
        {"Ext": "{{Contact.Field(ContactIDExt)}}", "Email": "{{Contact.Field(C_EmailAddress)}}"},
        "Ext", updateRule="ifNewIsNotNull",
    )  # fmt: skip
    sync = run_sync(definition, [
        {"Ext": "C-2", "Email": "TAKEN@example.com"},
        {"Ext": "c-1", "Email": ""},
        {"Ext": "C-3", "Email": "fresh@example.com"},
    ])  # fmt: skip
    assert rejects(sync) == {1: ("ELQ-00026", ["Email"])}
    assert Contact.objects.get(site=site, external_id="C-1").email == "taken@example.com"
    assert Contact.objects.filter(site=site, external_id="C-3", email="fresh@example.com").exists()


def test_account_sync_normalises_domains_and_custom_fields(site):
    CustomField.objects.create(site=site, entity="account", name="Tier", internal_name="Tier", data_type="number")
    fields = {**ACCOUNT_FIELDS, "Tier": "{{Account.Field(Tier)}}"}
    definition = define(site, "account", fields, "CompanyId")
    sync = run_sync(definition, [
        {"CompanyId": "A1", "Name": "Acme", "Domain": "https://WWW.Acme.com/about?x=1", "Tier": "2"},
        {"CompanyId": "A2", "Name": "", "Domain": "beta.io"},
        {"CompanyId": "A3", "Name": "Gamma", "Domain": "not a domain"},
        {"CompanyId": "A4", "Name": "Delta", "Tier": "many"},
    ])  # fmt: skip
    assert rejects(sync) == {2: ("ELQ-00061", ["Name"]), 3: ("ELQ-00032", ["Domain"]), 4: ("ELQ-00032", ["Tier"])}
    acme = Account.objects.get(site=site, external_id="A1")
    assert acme.domain == "acme.com" and acme.custom_fields == {"Tier": 2}
    assert logs(sync)[("ELQ-00005", "Accounts created.")] == 1

    update = run_sync(definition, [{"CompanyId": "a1", "Name": "Acme Inc", "Domain": "acme.com", "City": "Paris"}])
    acme.refresh_from_db()
    assert update.updated_count == 1 and acme.name == "Acme Inc" and acme.city == "Paris"
    assert logs(update)[("ELQ-00023", "Accounts updated.")] == 1
    assert Account.objects.filter(site=site).count() == 1


def test_account_by_name_identifier_and_update_only(site):
    AccountFactory(site=site, name="Acme", external_id=None)
    definition = define(
        site, "account", {"Name": "{{Account.Field(M_CompanyName)}}", "City": "{{Account.Field(M_City)}}"},
        "Name", importRule="updateOnly",
    )  # fmt: skip
    sync = run_sync(definition, [{"Name": "ACME", "City": "Oslo"}, {"Name": "Unknown Co", "City": "Rome"}])
    assert rejects(sync) == {2: ("SRV-00085", ["Name"])}
    assert Account.objects.get(site=site).city == "Oslo"


def test_duplicates_across_chunks_of_one_sync_are_rejected(site, settings):
    settings.BULK_SYNC_CHUNK_ROWS = 1
    definition = define(site, "contact", {"Email": "{{Contact.Field(C_EmailAddress)}}"}, "Email")
    sync = run_sync(definition, [{"Email": "a@x.com"}, {"Email": "A@x.com"}])
    assert rejects(sync) == {2: ("ELQ-00026", ["Email"])}


@pytest.mark.parametrize(
    "statement, value_of",
    [
        ("{{Contact.Account.Field(CompanyIDExt)}}", lambda a: a.external_id),
        ("{{Contact.Account.Field(M_CompanyName)}}", lambda a: a.name.upper()),  # a name matches ignoring case
        ("{{Contact.Account.Id}}", lambda a: str(a.uuid)),
    ],
)
def test_a_contact_names_its_account_by_any_account_identifier(site, other_api, statement, value_of):
    acme = AccountFactory(site=site, name="Acme", external_id="ACME")
    beta = AccountFactory(site=site, name="Beta", external_id="BETA")
    theirs = AccountFactory(site=other_api.site, name="Theirs", external_id="THEIRS")  # another site's: unknown
    definition = define(site, "contact", {"Email": "{{Contact.Field(C_EmailAddress)}}", "Company": statement}, "Email")
    sync = run_sync(definition, [
        {"Email": "ann@example.com", "Company": value_of(acme)},
        {"Email": "bob@example.com", "Company": value_of(beta)},
        {"Email": "cy@example.com", "Company": value_of(theirs)},
        {"Email": "dee@example.com", "Company": ""},
    ])  # fmt: skip
    assert rejects(sync) == {3: ("SRV-00085", ["Company"])}
    accounts = dict(Contact.objects.filter(site=site).values_list("email", "account__name"))
    assert accounts == {"ann@example.com": "Acme", "bob@example.com": "Beta", "dee@example.com": None}


def test_a_company_name_several_accounts_share_is_ambiguous(site):
    AccountFactory(site=site, name="Acme", external_id="A1")
    AccountFactory(site=site, name="ACME", external_id="A2")
    AccountFactory(site=site, name="Beta", external_id="B1")
    fields = {"Email": "{{Contact.Field(C_EmailAddress)}}", "Company": "{{Contact.Account.Field(M_CompanyName)}}"}
    sync = run_sync(define(site, "contact", fields, "Email"), [
        {"Email": "ann@example.com", "Company": "acme"},
        {"Email": "bob@example.com", "Company": "Beta"},
        {"Email": "cy@example.com", "Company": "Gamma"},
    ])  # fmt: skip
    assert rejects(sync) == {1: ("ELQ-00062", ["Company"]), 3: ("SRV-00085", ["Company"])}
    assert logs(sync)[("ELQ-00062", "Duplicate account linkage.")] == 1
    assert not Contact.objects.filter(site=site, email="ann@example.com").exists()  # rejected whole
    assert Contact.objects.get(site=site, email="bob@example.com").account.name == "Beta"


def test_an_account_id_that_is_not_a_uuid_is_malformed(site):
    fields = {"Email": "{{Contact.Field(C_EmailAddress)}}", "Account": "{{Contact.Account.Id}}"}
    sync = run_sync(define(site, "contact", fields, "Email"), [
        {"Email": "ann@example.com", "Account": "not-a-uuid"},
        {"Email": "bob@example.com", "Account": "00000000-0000-0000-0000-000000000000"},
    ])  # fmt: skip
    assert rejects(sync) == {1: ("ELQ-00032", ["Account"]), 2: ("SRV-00085", ["Account"])}


def test_a_definition_names_the_account_once(api):
    fields = {
        "Email": "{{Contact.Field(C_EmailAddress)}}",
        "CompanyId": "{{Contact.Account.Field(CompanyIDExt)}}",
        "CompanyName": "{{Contact.Account.Field(M_CompanyName)}}",
    }
    response = api.post(
        f"{BULK}/contacts/imports", {"name": "c", "fields": fields, "identifierFieldName": "Email"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["failures"] == [
        {"field": "fields.CompanyName", "value": "{{Contact.Account.Field(M_CompanyName)}}",
         "constraint": "CompanyId already sets the same field."},
    ]  # fmt: skip
    for statement in ("{{Contact.Account.Field(M_CompanyName)}}", "{{Contact.Account.Id}}"):
        one = {"Email": "{{Contact.Field(C_EmailAddress)}}", "Company": statement}
        created = api.post(
            f"{BULK}/contacts/imports", {"name": "c", "fields": one, "identifierFieldName": "Email"}, format="json"
        )
        assert created.status_code == 201, created.content


def test_one_account_named_twice_by_its_id_in_two_spellings_is_a_duplicate(site):
    """`{{Account.Id}}` values are uuids, however written: the same account's id in upper case is
    the same record, so the second row is a duplicate, not a second update nobody counts."""
    acme = AccountFactory(site=site, name="Acme")
    fields = {"Id": "{{Account.Id}}", "City": "{{Account.Field(M_City)}}"}
    definition = define(site, "account", fields, "Id")
    sync = run_sync(
        definition, [{"Id": str(acme.uuid), "City": "Oslo"}, {"Id": str(acme.uuid).upper(), "City": "Rome"}]
    )
    assert rejects(sync) == {2: ("ELQ-00026", ["Id"])}
    assert (sync.processed, sync.updated_count, sync.rejected) == (2, 1, 1)
    acme.refresh_from_db()
    assert acme.city == "Oslo"
