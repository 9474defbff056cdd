"""Indexes that earn their place: what bulk writes cost in index entries (bench.indexes measures
it per row), and that the queries they serve still find them."""

import pytest
from django.db import connection

from entities.contacts.models import Account, Contact
from entities.opportunities.models import Opportunity, Owner
from tests.entities.contacts.factories import AccountFactory
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import run_sync
from tests.plans import captured_plans

pytestmark = pytest.mark.django_db


def test_bulk_created_opportunities_get_time_ordered_uuids(site):
    definition = ImportDefinitionFactory(site=site)
    run_sync(definition, [{"OpportunityID": f"U-{i}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                          for i in range(300)])  # fmt: skip
    uuids = list(Opportunity.objects.filter(site=site).order_by("id").values_list("uuid", flat=True))
    assert len(set(uuids)) == 300
    assert {u.version for u in uuids} == {7} and {u.variant for u in uuids} == {"specified in RFC 4122"}
    millis = [u.int >> 80 for u in uuids]
    assert millis == sorted(millis)  # rows created later never sort before: the index grows at one end


@pytest.mark.parametrize(
    "index,column",
    [("opportunity_company", "company_id"), ("opportunity_owner", "owner_id"), ("contact_site_phone", "phone"),
     ("contact_site_visitor", "visitor_id"), ("contact_account", "account_id")],
)  # fmt: skip
def test_indexes_of_mostly_empty_references_hold_only_the_set_ones(site, index, column):
    """40 records, 3 of them with the column set: the index holds 3 entries (ANALYZE counts a
    partial index's entries by its predicate over the whole of a small table), not 40."""
    if column in ("company_id", "owner_id"):
        table, stage = Opportunity._meta.db_table, site.stages.first()
        value = (AccountFactory(site=site) if column == "company_id" else Owner.objects.create(site=site, name="o")).pk
        Opportunity.objects.bulk_create(
            Opportunity(site=site, external_id=f"N-{i}", name="n", stage=stage, **({column: value} if i < 3 else {}))
            for i in range(40)
        )
    else:
        table = Contact._meta.db_table
        value = AccountFactory(site=site).pk if column == "account_id" else None
        Contact.objects.bulk_create(
            Contact(site=site, email=f"c{i}@example.com", **({column: value or f"v{i}"} if i < 3 else {}))
            for i in range(40)
        )
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {table}")  # noqa: S608 - the model's own table name
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [index])
        entries = cur.fetchone()[0]
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        rows = cur.fetchone()[0]
    assert (rows, entries) == (40, 3)


def test_deleting_an_account_finds_its_opportunities_by_the_partial_index(site):
    account = AccountFactory(site=site)
    stage = site.stages.first()
    Opportunity.objects.bulk_create(
        [Opportunity(site=site, external_id=f"N-{i}", name="n", stage=stage) for i in range(3000)]
        + [Opportunity(site=site, external_id=f"A-{i}", name="a", stage=stage, company=account) for i in range(3)]
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE opportunities_opportunity")
    with captured_plans() as plans:
        with connection.cursor() as cur:
            cur.execute("SET auto_explain.log_nested_statements = on")  # the set-null trigger's UPDATE
        Account.objects.filter(pk=account.pk).delete()
    # (a client's company is set to null too, in its own small table: not the statement this is about)
    updates = [
        p
        for p in plans
        if ("SET company_id = NULL" in p or 'SET "company_id" = NULL' in p) and "opportunities_client" not in p
    ]
    assert updates and all("using opportunity_company on opportunities_opportunity" in p for p in updates), updates
    assert not Opportunity.objects.filter(site=site, company__isnull=False).exists()
    assert Opportunity.objects.filter(site=site).count() == 3003
