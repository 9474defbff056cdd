"""Custom field internal names: only names a statement can name are accepted, and a bad name
stored before that rule never breaks the site's imports nor shadows a standard field."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from entities.opportunities.models import Opportunity
from kernel.exceptions import ValidationFailed
from pipeline.catalog import custom_field_name_problem, entity_spec, validate_custom_field_name
from pipeline.models import CustomField
from tests.doors.admin.helpers import form_data, staff_user
from tests.factories import OPPORTUNITY_FIELDS, ImportDefinitionFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db

IMPORTS = "/api/bulk/2.0/opportunities/imports"
FIELDS = "/api/bulk/2.0/opportunities/fields"

# Names whose statement would not parse back to the name: a space, an accent, punctuation, a bracket
# that closes the statement early, a brace, a dot, and nothing at all.
UNPARSEABLE = ["Region Code", "Région", "Region-Code", "Seats)", "x}}", "a.b", " Lead", ""]
# Names whose statement is a standard field's, in any letter case.
STANDARD = [("opportunity", "Amount"), ("opportunity", "stage"), ("contact", "C_EmailAddress"), ("account", "m_domain")]
VALID = [("opportunity", "RegionCode"), ("opportunity", "Region_Code"), ("opportunity", "_x9"), ("contact", "C_Shoe")]


@pytest.mark.parametrize("name", UNPARSEABLE)
def test_a_name_a_statement_cannot_name_is_refused_naming_the_field(name):
    with pytest.raises(ValidationFailed) as refused:
        validate_custom_field_name(entity="opportunity", internal_name=name)
    [failure] = refused.value.failures
    assert failure.field == "internalName" and failure.value == name
    assert "letters (A-Z, a-z), digits and underscores only" in failure.constraint
    assert refused.value.status_code == 400


@pytest.mark.parametrize(("entity", "name"), STANDARD)
def test_a_name_taking_a_standard_fields_statement_is_refused(entity, name):
    with pytest.raises(ValidationFailed) as refused:
        validate_custom_field_name(entity=entity, internal_name=name)
    assert "is a standard" in refused.value.failures[0].constraint


@pytest.mark.parametrize(("entity", "name"), VALID)
def test_names_of_letters_digits_and_underscores_are_accepted(entity, name):
    validate_custom_field_name(entity=entity, internal_name=name)
    assert custom_field_name_problem(entity_spec(entity), name) is None


def _admin_client(site) -> Client:
    client = Client()
    client.force_login(staff_user(site))
    return client


def test_admin_refuses_bad_internal_names_with_a_form_error_and_saves_good_ones(site):
    # given a site's staff user on the custom field add form
    client = _admin_client(site)
    add = reverse("admin:bulkapi_customfield_add")
    data = form_data(client.get(add))
    data.update(entity="opportunity", name="Region code", data_type="string", max_length="100")
    # when they save names a statement cannot name, or a standard field's
    for name in ("Region Code", "Région", "Seats)", "amount"):
        response = client.post(add, {**data, "internal_name": name})
        # then the form says why, on the internal name, and nothing is stored
        assert response.status_code == 200, name
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["internal_name"], (name, errors)
    assert not CustomField.objects.exists()
    # while a name of letters, digits and underscores is stored, and imports map it
    assert client.post(add, {**data, "internal_name": "Region_Code"}).status_code == 302
    field = CustomField.objects.get()
    assert field.site == site and field.internal_name == "Region_Code"
    # and changing it to a bad name later is refused the same way
    change = reverse("admin:bulkapi_customfield_change", args=[field.pk])
    response = client.post(change, {**form_data(client.get(change)), "internal_name": "Region Code"})
    assert response.status_code == 200 and "internal_name" in response.context["adminform"].form.errors
    assert CustomField.objects.get().internal_name == "Region_Code"


@pytest.fixture
def stored_bad_names(site):
    """Custom fields stored before names were checked: unparseable, and shadowing Amount."""
    CustomField.objects.create(site=site, entity="opportunity", name="Region code", internal_name="Region Code")
    CustomField.objects.create(site=site, entity="opportunity", name="Amount (mine)", internal_name="amount")
    CustomField.objects.create(site=site, entity="contact", name="Badge", internal_name="Badge(s)")
    return CustomField.objects.create(site=site, entity="opportunity", name="Seats", internal_name="Seats")


def test_bad_names_stored_earlier_do_not_break_the_sites_imports(api, stored_bad_names):
    # given a site whose stored custom fields include names no statement can name
    site = api.site
    # when its users list the fields, create a definition and run a sync
    fields = api.get(FIELDS, {"limit": 1000})
    created = api.post(
        IMPORTS,
        {
            "name": "Deals",
            "fields": {**OPPORTUNITY_FIELDS, "Seats": "{{Opportunity.Field(Seats)}}"},
            "identifierFieldName": "OpportunityID",
        },
        format="json",
    )
    contact_fields = api.get("/api/bulk/2.0/contacts/fields", {"limit": 1000})
    # then the definition is created (the good custom field mapped), and the listing leaves the bad
    # names out (and keeps the standard Amount)
    assert created.status_code == 201, created.content
    assert fields.status_code == 200 and contact_fields.status_code == 200

    def custom(response):
        return [f["statement"] for f in response.json()["items"] if int(f["uri"].rsplit("/", 1)[1]) >= 1_000_000]

    assert custom(fields) == ["{{Opportunity.Field(Seats)}}"] and custom(contact_fields) == []
    amount = [f for f in fields.json()["items"] if f["statement"].lower() == "{{opportunity.field(amount)}}"]
    assert [(f["internalName"], f["uri"]) for f in amount] == [("Amount", "/opportunities/fields/5")]
    # and a sync stores Amount in its column, not in the custom field that shadowed it
    definition = ImportDefinitionFactory(
        site=site, fields=[[k, v] for k, v in {**OPPORTUNITY_FIELDS, "Seats": "{{Opportunity.Field(Seats)}}"}.items()]
    )
    row = {"OpportunityID": "CF-1", "OpportunityName": "n", "Amount": "12.5", "Stage": "Prospecting", "Seats": "4"}
    sync = run_sync(definition, [row])
    assert sync.status == "success", sync.error_message
    opportunity = Opportunity.objects.get(site=site, external_id="CF-1")
    assert opportunity.amount == 12.5 and opportunity.custom_fields == {"Seats": "4"}


def test_admin_flags_bad_names_stored_earlier(site, stored_bad_names):
    client = _admin_client(site)
    page = client.get(reverse("admin:bulkapi_customfield_changelist")).content.decode()
    assert page.count("Not importable: rename it") == 3
    assert page.count("digits and underscores only") == 2 and "is a standard opportunity field" in page
    assert "{{Opportunity.Field(Seats)}}" in page


def test_a_stored_custom_field_named_like_a_standard_one_no_longer_shadows_it(site):
    # given a custom field stored earlier as "amount", whose statement is the standard Amount's
    CustomField.objects.create(site=site, entity="opportunity", name="Amount (mine)", internal_name="amount")
    definition = ImportDefinitionFactory(site=site)
    # when a sync imports Amount
    row = {"OpportunityID": "CF-2", "OpportunityName": "n", "Amount": "7", "Stage": "Prospecting"}
    sync = run_sync(definition, [row])
    # then the amount column gets it, as for any site
    assert sync.status == "success", sync.error_message
    opportunity = Opportunity.objects.get(site=site, external_id="CF-2")
    assert opportunity.amount == 7 and opportunity.custom_fields == {}
