"""TRUNCATE of a table that trigger-checked references name (the guards of migration bulkapi
0013) is refused while a referencing row names it, as PostgreSQL refuses it for an FK constraint,
and passes when the referencing table goes in the same command. The tests commit (TRUNCATE
refuses tables with pending deferred FK checks), so each one ends with the test database's own
flush: one TRUNCATE of every table, which the guards let through."""

import pytest
from django.db import NotSupportedError, connection, transaction

from doors.batch.models import BatchRow
from entities.contacts.models import Contact
from entities.opportunities.models import Opportunity, Owner
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import BatchJobFactory, OpportunityContactFactory, OpportunityFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _contact_with_account(site):
    ContactFactory(site=site, account=AccountFactory(site=site))


def _opportunity_with_company(site):
    OpportunityFactory(site=site, company=AccountFactory(site=site))


def _opportunity_with_owner(site):
    OpportunityFactory(site=site, owner=Owner.objects.create(site=site, name="Ann"))


def _batch_row(site):
    job = BatchJobFactory(site=site)
    BatchRow.objects.create(job=job, row_number=1, opportunity_id=1)


def _link(site):
    opp, contact = OpportunityFactory(site=site), ContactFactory(site=site)
    OpportunityContactFactory(site=site, opportunity=opp, contact=contact)


# (truncated table, referencing table, a referencing row)
CASES = [
    ("contacts_account", "contacts_contact", _contact_with_account),
    ("contacts_account", "opportunities_opportunity", _opportunity_with_company),
    ("opportunities_owner", "opportunities_opportunity", _opportunity_with_owner),
    ("opportunities_stage", "opportunities_opportunity", lambda site: OpportunityFactory(site=site)),
    ("bulkapi_site", "opportunities_opportunity", lambda site: OpportunityFactory(site=site)),
    ("bulkapi_site", "contacts_contact", lambda site: ContactFactory(site=site)),
    ("batches_batchjob", "batches_batchrow", _batch_row),
    ("opportunities_opportunity", "linkage_opportunitycontact", _link),
    ("contacts_contact", "linkage_opportunitycontact", _link),
]


def _count(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


@pytest.mark.parametrize("table,referrer,make", CASES, ids=[f"{t}<-{r}" for t, r, _ in CASES])
def test_truncate_is_refused_while_a_row_names_the_table_and_passes_with_its_referrers(site, table, referrer, make):
    make(site)
    before = _count(referrer), _count(table)
    assert min(before) > 0
    # CASCADE empties the tables real FK constraints tie to it (not the trigger-checked ones).
    with pytest.raises(NotSupportedError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"TRUNCATE {table} CASCADE")
    assert "cannot truncate a table referenced in a foreign key constraint" in str(caught.value)
    assert f'Table "{referrer}" references "{table}"' in caught.value.__cause__.diag.message_detail
    assert (_count(referrer), _count(table)) == before  # nothing truncated
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {table}, {referrer} CASCADE")
    assert (_count(referrer), _count(table)) == (0, 0)


def test_truncate_passes_when_no_row_names_the_table(site):
    ContactFactory(site=site)  # no account
    OpportunityFactory(site=site)  # no company
    AccountFactory(site=site)
    with connection.cursor() as cur:
        # Ruddr's clients (and their projects) reference accounts by real FK constraints, checked on any
        # TRUNCATE, rows or not: truncated together, as PostgreSQL's hint says.
        cur.execute(
            "TRUNCATE contacts_account, opportunities_client, opportunities_project, opportunities_opportunityproject"
        )
    assert _count("contacts_account") == 0
    assert Contact.objects.filter(site=site).count() == Opportunity.objects.filter(site=site).count() == 1
