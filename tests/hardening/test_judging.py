"""One bad row never fails a sync: every value a chunk writes is judged (length and format) in the
chunk's judge SQL and becomes a reject naming the field; the other rows go on."""

import pytest

from entities.contacts.models import Account, Contact
from entities.opportunities.models import Opportunity
from pipeline.models import CustomField, Reject
from tests.factories import OPPORTUNITY_FIELDS
from tests.hardening.helpers import define
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db

MEGABYTE = 1_000_000


def rejects(sync) -> dict:
    return {r.record_index: (r.status_code, r.invalid_fields) for r in Reject.objects.filter(sync=sync)}


def test_account_values_that_do_not_fit_are_rejects_and_the_other_rows_are_written(site):
    # given: an account import whose rows carry a 1 MB domain, a name and a city over their columns
    definition = define(
        site,
        "account",
        {
            "CompanyId": "{{Account.Field(CompanyIDExt)}}",
            "Name": "{{Account.Field(M_CompanyName)}}",
            "Domain": "{{Account.Field(M_Domain)}}",
            "City": "{{Account.Field(M_City)}}",
        },
        "CompanyId",
    )
    rows = [
        {"CompanyId": "A-1", "Name": "Acme", "Domain": "https://www.acme.com/about"},
        {"CompanyId": "A-2", "Name": "Huge", "Domain": "a" * MEGABYTE + ".com"},
        {"CompanyId": "A-3", "Name": "N" * 256},
        {"CompanyId": "A-4", "Name": "Town", "City": "C" * 101},
        {"CompanyId": "A-" + "9" * 300, "Name": "Long id"},
        {"CompanyId": "A-6", "Name": "Globex", "Domain": "globex.com", "City": "Springfield"},
    ]
    # when
    sync = run_sync(definition, rows)
    # then: the sync ends in warning with one reject per bad row, naming the field
    assert sync.status == "warning", sync.error_message
    assert rejects(sync) == {
        2: ("ELQ-00032", ["Domain"]),
        3: ("ELQ-00032", ["Name"]),
        4: ("ELQ-00032", ["City"]),
        5: ("ELQ-00032", ["CompanyId"]),
    }
    stored = dict(Account.objects.filter(site=site).values_list("external_id", "domain"))
    assert stored == {"A-1": "acme.com", "A-6": "globex.com"}


def test_contact_email_phone_and_names_are_judged_by_length_before_pattern(site):
    definition = define(
        site,
        "contact",
        {
            "Email": "{{Contact.Field(C_EmailAddress)}}",
            "First": "{{Contact.Field(C_FirstName)}}",
            "Phone": "{{Contact.Field(C_BusPhone)}}",
        },
        "Email",
    )
    rows = [
        {"Email": "ok@example.com", "Phone": "+1 555 010 2030"},
        {"Email": "a" * MEGABYTE + "@example.com"},
        {"Email": "phone@example.com", "Phone": "+1 555" + " " * 60 + "x12"},  # matches the pattern, 70 chars
        {"Email": "first@example.com", "First": "F" * 101},
        {"Email": "x" * 250 + "@example.com"},  # a valid pattern, but 262 characters
        {"Email": "last@example.com", "First": "Last"},
    ]
    sync = run_sync(definition, rows)
    assert sync.status == "warning", sync.error_message
    assert rejects(sync) == {
        2: ("ELQ-00032", ["Email"]),
        3: ("ELQ-00032", ["Phone"]),
        4: ("ELQ-00032", ["First"]),
        5: ("ELQ-00032", ["Email"]),
    }
    assert set(Contact.objects.filter(site=site).values_list("email", flat=True)) == {
        "ok@example.com",
        "last@example.com",
    }


def test_opportunity_custom_fields_and_texts_are_judged(site):
    CustomField.objects.create(
        site=site, entity="opportunity", name="Buyer", internal_name="Buyer", data_type="emailAddress"
    )
    CustomField.objects.create(site=site, entity="opportunity", name="Code", internal_name="Code", max_length=10)
    fields = {
        **OPPORTUNITY_FIELDS,
        "Buyer": "{{Opportunity.Field(Buyer)}}",
        "Code": "{{Opportunity.Field(Code)}}",
    }
    definition = define(site, "opportunity", fields, "OpportunityID")
    base = {"OpportunityName": "Deal", "Amount": "10", "Stage": "Prospecting"}
    rows = [
        {**base, "OpportunityID": "1", "Buyer": "buyer@example.com", "Code": "ABC"},
        {**base, "OpportunityID": "2", "Buyer": "not an address"},
        {**base, "OpportunityID": "3", "Buyer": "b" * MEGABYTE + "@example.com"},
        {**base, "OpportunityID": "4", "Code": "C" * 11},
        {**base, "OpportunityID": "5", "AccountName": "A" * MEGABYTE},
        {**base, "OpportunityID": "6", "Territory": "T" * 256, "Code": "D" * 11},
        {**base, "OpportunityID": "7"},
    ]
    sync = run_sync(definition, rows)
    assert sync.status == "warning", sync.error_message
    assert rejects(sync) == {
        2: ("ELQ-00032", ["Buyer"]),
        3: ("ELQ-00032", ["Buyer"]),
        4: ("ELQ-00032", ["Code"]),
        5: ("ELQ-00032", ["AccountName"]),
        6: ("ELQ-00032", ["Territory", "Code"]),
    }
    stored = {o.external_id: o.custom_fields for o in Opportunity.objects.filter(site=site)}
    assert stored == {"1": {"Buyer": "buyer@example.com", "Code": "ABC"}, "7": {}}
