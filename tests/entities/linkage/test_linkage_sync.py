"""The set-based linkage sync: by contact field, by account, rejects, case rules, idempotence."""

import pytest

from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity
from pipeline.models import Reject, SyncLog
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.entities.linkage.helpers import link_definition
from tests.factories import OpportunityFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db

ACCOUNT_FIELDS = {"OpportunityID": "{{Opportunity.Id}}", "Company": "{{Opportunity.Account.Field(CompanyIDExt)}}"}


def links(site):
    return set(OpportunityContact.objects.filter(site=site).values_list("opportunity__external_id", "contact__email"))


def rejects(sync):
    return {r.record_index: (r.status_code, r.invalid_fields, r.message) for r in Reject.objects.filter(sync=sync)}


def logs(sync):
    return {log.status_code: log.count for log in SyncLog.objects.filter(sync=sync)}


def test_by_email_links_case_insensitively_and_is_idempotent(site):
    OpportunityFactory(site=site, external_id="OPP-1")
    OpportunityFactory(site=site, external_id="OPP-2")
    ContactFactory(site=site, email="Ann@Example.com")
    ContactFactory(site=site, email="bob@example.com")
    definition = link_definition(site)
    rows = [
        {"OpportunityID": "opp-1", "EmailAddress": "ann@example.COM"},
        {"OpportunityID": "OPP-1", "EmailAddress": "bob@example.com"},
        {"OpportunityID": "OPP-2", "EmailAddress": "bob@example.com"},
    ]
    sync = run_sync(definition, rows)
    assert sync.status == "success"
    assert links(site) == {("OPP-1", "Ann@Example.com"), ("OPP-1", "bob@example.com"), ("OPP-2", "bob@example.com")}
    assert logs(sync)["SRV-00201"] == 3 and logs(sync)["SRV-00202"] == 3 and logs(sync)["ELQ-00049"] == 3

    again = run_sync(definition, rows)
    assert again.status == "success" and again.created_count == 0
    assert OpportunityContact.objects.filter(site=site).count() == 3
    assert logs(again)["SRV-00201"] == 3 and logs(again)["SRV-00202"] == 0


def test_unmatched_opportunity_and_contact_are_rejects_and_the_sync_warns(site):
    OpportunityFactory(site=site, external_id="OPP-1")
    ContactFactory(site=site, email="ann@example.com")
    definition = link_definition(site)
    sync = run_sync(definition, [
        {"OpportunityID": "OPP-1", "EmailAddress": "ann@example.com"},
        {"OpportunityID": "NOPE", "EmailAddress": "ann@example.com"},
        {"OpportunityID": "OPP-1", "EmailAddress": "ghost@example.com"},
        {"OpportunityID": "OPP-1", "EmailAddress": ""},
        {},
    ])  # fmt: skip
    assert sync.status == "warning"
    assert rejects(sync) == {
        2: ("ELQ-00084", ["OpportunityID"], "Opportunity does not exist."),
        3: ("ELQ-00085", ["EmailAddress"], "Contact does not exist."),
        4: ("ELQ-00061", ["EmailAddress"], "Rejected records (missing fields)."),
        5: ("ELQ-00059", [], "Empty records."),
    }
    counts = logs(sync)
    assert counts["SRV-00201"] == 1 and counts["SRV-00203"] == 2 and counts["SRV-00204"] == 0
    assert counts["ELQ-00060"] == 4 and counts["ELQ-00084"] == 1 and counts["ELQ-00085"] == 1
    assert links(site) == {("OPP-1", "ann@example.com")}


def test_multiple_matches_link_all_or_reject_the_row(site):
    OpportunityFactory(site=site, external_id="OPP-1")
    ContactFactory(site=site, email="a@x.com", last_name="Smith")
    ContactFactory(site=site, email="b@x.com", last_name="smith")
    fields = {"OpportunityID": "{{Opportunity.Id}}", "LastName": "{{Opportunity.Contact.Field(C_LastName)}}"}
    row = [{"OpportunityID": "OPP-1", "LastName": "SMITH"}]

    strict = run_sync(link_definition(site, fields), row)
    assert strict.status == "warning"
    assert rejects(strict) == {1: ("SRV-00062", ["LastName"], "Duplicate contact linkage.")}
    assert logs(strict)["SRV-00204"] == 1
    assert links(site) == set()

    allowed = run_sync(link_definition(site, fields, linkOpportunitiesMultipleSourceMatches=True), row)
    assert allowed.status == "success"
    assert links(site) == {("OPP-1", "a@x.com"), ("OPP-1", "b@x.com")}


def test_case_sensitive_flags(site):
    OpportunityFactory(site=site, external_id="Opp-1")
    ContactFactory(site=site, email="a@x.com", last_name="Smith")
    fields = {"OpportunityID": "{{Opportunity.Id}}", "LastName": "{{Opportunity.Contact.Field(C_LastName)}}"}
    rows = [
        {"OpportunityID": "opp-1", "LastName": "Smith"},
        {"OpportunityID": "Opp-1", "LastName": "smith"},
    ]
    match_cs = run_sync(link_definition(site, fields, linkOpportunitiesCaseSensitiveMatchField=True), rows)
    assert {k: v[0] for k, v in rejects(match_cs).items()} == {1: "ELQ-00084"}
    assert links(site) == {("Opp-1", "a@x.com")}

    OpportunityContact.objects.all().delete()
    source_cs = run_sync(link_definition(site, fields, linkOpportunitiesCaseSensitiveSourceField=True), rows)
    assert {k: v[0] for k, v in rejects(source_cs).items()} == {2: "ELQ-00085"}

    OpportunityContact.objects.all().delete()
    neither = run_sync(link_definition(site, fields), rows)
    assert neither.status == "success" and neither.created_count == 1


def test_email_source_honours_the_case_sensitive_flag(site):
    OpportunityFactory(site=site, external_id="OPP-1")
    ContactFactory(site=site, email="Ann@Example.com")
    definition = link_definition(site, linkOpportunitiesCaseSensitiveSourceField=True)
    sync = run_sync(definition, [
        {"OpportunityID": "OPP-1", "EmailAddress": "ann@example.com"},
        {"OpportunityID": "OPP-1", "EmailAddress": "Ann@Example.com"},
    ])  # fmt: skip
    assert {k: v[0] for k, v in rejects(sync).items()} == {1: "ELQ-00085"}
    assert sync.created_count == 1


def test_by_account_sets_the_company_and_links_every_contact_of_it(site):
    acme = AccountFactory(site=site, external_id="ACME")
    other = AccountFactory(site=site, external_id="OTHER")
    ContactFactory(site=site, email="a@acme.com", account=acme)
    ContactFactory(site=site, email="b@acme.com", account=acme)
    ContactFactory(site=site, email="c@other.com", account=other)
    OpportunityFactory(site=site, external_id="OPP-1")
    OpportunityFactory(site=site, external_id="OPP-2")
    definition = link_definition(site, ACCOUNT_FIELDS, linkOpportunitiesEntityType="account")
    assert definition.link_entity_type == "Account"
    rows = [
        {"OpportunityID": "OPP-1", "Company": "acme"},
        {"OpportunityID": "OPP-2", "Company": "NOBODY"},
    ]
    sync = run_sync(definition, rows)
    assert sync.status == "warning"
    assert rejects(sync) == {2: ("SRV-00085", ["Company"], "Account does not exist.")}
    assert Opportunity.objects.get(site=site, external_id="OPP-1").company == acme
    assert links(site) == {("OPP-1", "a@acme.com"), ("OPP-1", "b@acme.com")}
    assert run_sync(definition, rows).created_count == 0


def test_ambiguous_account_is_elq_00062_unless_multiple_matches_are_allowed(site):
    one = AccountFactory(site=site, name="Acme")
    two = AccountFactory(site=site, name="ACME")
    ContactFactory(site=site, email="a@acme.com", account=one)
    ContactFactory(site=site, email="b@acme.com", account=two)
    OpportunityFactory(site=site, external_id="OPP-1")
    fields = {"OpportunityID": "{{Opportunity.Id}}", "Company": "{{Opportunity.Account.Field(M_CompanyName)}}"}
    strict = run_sync(link_definition(site, fields), [{"OpportunityID": "OPP-1", "Company": "acme"}])
    assert rejects(strict) == {1: ("ELQ-00062", ["Company"], "Duplicate account linkage.")}
    allowed = run_sync(
        link_definition(site, fields, linkOpportunitiesMultipleSourceMatches=True),
        [{"OpportunityID": "OPP-1", "Company": "acme"}],
    )
    assert allowed.status == "success"
    assert links(site) == {("OPP-1", "a@acme.com"), ("OPP-1", "b@acme.com")}
    assert Opportunity.objects.get(site=site, external_id="OPP-1").company == one


def test_other_sites_records_never_match(site):
    from tests.factories import SiteFactory

    stranger = SiteFactory()
    OpportunityFactory(site=stranger, external_id="OPP-1")
    ContactFactory(site=stranger, email="a@x.com")
    OpportunityFactory(site=site, external_id="OPP-2")
    sync = run_sync(link_definition(site), [
        {"OpportunityID": "OPP-1", "EmailAddress": "a@x.com"},
        {"OpportunityID": "OPP-2", "EmailAddress": "a@x.com"},
    ])  # fmt: skip
    assert {k: v[0] for k, v in rejects(sync).items()} == {1: "ELQ-00084", 2: "ELQ-00085"}
    assert OpportunityContact.objects.count() == 0


def test_links_across_chunks_and_by_contact_id_and_custom_field(site, settings):
    from pipeline.models import CustomField

    settings.BULK_SYNC_CHUNK_ROWS = 2
    CustomField.objects.create(site=site, entity="contact", name="Badge", internal_name="Badge")
    OpportunityFactory(site=site, external_id="OPP-1")
    people = [ContactFactory(site=site, custom_fields={"Badge": f"B{i}"}) for i in range(5)]
    by_badge = link_definition(
        site, {"OpportunityID": "{{Opportunity.Id}}", "Badge": "{{Opportunity.Contact.Field(Badge)}}"}
    )
    sync = run_sync(by_badge, [{"OpportunityID": "OPP-1", "Badge": f"b{i}"} for i in range(5)])
    assert sync.status == "success" and sync.created_count == 5
    OpportunityContact.objects.all().delete()
    by_id = link_definition(site, {"OpportunityID": "{{Opportunity.Id}}", "Who": "{{Opportunity.Contact.Id}}"})
    sync = run_sync(by_id, [{"OpportunityID": "OPP-1", "Who": str(p.uuid)} for p in people] + [
        {"OpportunityID": "OPP-1", "Who": "not-a-uuid"}
    ])  # fmt: skip
    assert sync.created_count == 5 and {k: v[0] for k, v in rejects(sync).items()} == {6: "ELQ-00085"}
