"""Plans of the contact and account chunk statements (entities.contacts.sql) on realistic tables
(6,000 records a site, two sites, analysed): each staged row finds its record, its account and its
taken unique values by index probes keyed by more than the site (tests.plans.assert_probes), never
by reading the table, or walking an index in order, once per row.

Statistics older than the rows are not tested here: contacts and accounts sync in one lane, and the
refresh before each chunk (pipeline.services.run) analyses a table a committed import has filled;
inside this test's transaction that refresh cannot see the rows, so such a test would prove
nothing about production.

Two failed before (and were fixed with what they found): the record match `ORDER BY t.id LIMIT 1`
was run as a walk of the primary key filtered per staged row (500 rows took 4 to 6 s on 12,000
contacts; now `pipeline.planner.unindexed(t.id)`, as the opportunity judge does), and an account
matched by its external id ignoring case (`CompanyIDExt`, the default) had no (site,
lower(external_id)) index, so it became a scan per row (now account_site_extid_ci, migration
contacts.0006)."""

import pytest
from django.db import connection

from entities.contacts.models import Account, Contact
from pipeline.services import sync_run_chunk
from tests.entities.contacts.test_imports import define
from tests.factories import SiteFactory
from tests.pipeline.helpers import drive, staged_sync
from tests.plans import assert_probes, captured_plans, plan_of

pytestmark = pytest.mark.django_db

RECORDS = 6000  # per site; two sites


def fill(site, other) -> None:
    """6,000 accounts and 6,000 contacts (each of its account) for each of two sites, analysed."""
    with connection.cursor() as cur:
        for s in (other, site):
            cur.execute(
                "INSERT INTO contacts_account (site_id, name, external_id, domain)"
                " SELECT %s, 'Company ' || i, 'acc-' || i, 'd' || i || '.example' FROM generate_series(1, %s) i",
                [s.pk, RECORDS],
            )
            cur.execute(
                "INSERT INTO contacts_contact (site_id, email, phone, external_id, account_id)"
                " SELECT a.site_id, 'c' || n || '@example.com', '+4420794' || lpad(n, 5, '0'), 'crm-' || n, a.id"
                " FROM (SELECT substr(external_id, 5) AS n, * FROM contacts_account WHERE site_id = %s) a",
                [s.pk],
            )
        cur.execute("ANALYZE contacts_account")
        cur.execute("ANALYZE contacts_contact")


def chunk_plans(definition, rows) -> list[str]:
    """The plans of one chunk of 500 staged rows (one lane), then the sync run to its end."""
    sync = staged_sync(definition, rows)
    with captured_plans() as plans:
        sync_run_chunk(sync_id=sync.pk, lane=0)
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status in ("success", "warning"), sync.status
    return plans


def judge_of(plans: list[str]) -> str:
    return plan_of(plans, "CREATE TEMP TABLE _rows")


NO_CI_INDEX = pytest.mark.xfail(
    strict=True,
    reason="no (site, lower(external_id)) index on contacts_account: a case-insensitive CompanyIDExt match"
    " walks the primary key per row (and, with unindexed(t.id), seq-scans it)",
)


@pytest.mark.parametrize("account_by", ["CompanyIDExt", "M_CompanyName"])
def test_contact_rows_find_their_contact_account_and_taken_values_by_index_probes(settings, account_by):
    # given: 12,000 contacts and accounts over two sites; 500 rows, half of them known contacts
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 500, 1
    site, other = SiteFactory(), SiteFactory()
    fill(site, other)
    definition = define(site, "contact", {
        "Email": "{{Contact.Field(C_EmailAddress)}}",
        "First": "{{Contact.Field(C_FirstName)}}",
        "Phone": "{{Contact.Field(C_BusPhone)}}",
        "Crm": "{{Contact.Field(ContactIDExt)}}",
        "Company": f"{{{{Contact.Account.Field({account_by})}}}}",
    }, "Email")  # fmt: skip
    company = (lambda i: f"acc-{i}") if account_by == "CompanyIDExt" else (lambda i: f"company {i}")
    rows = [{"Email": f"{'c' if i % 2 else 'u'}{i}@example.com", "First": "F", "Phone": f"+4420795{i:05d}",
             "Crm": f"crm-{i}" if i % 2 else f"new-{i}", "Company": company(i)} for i in range(1, 501)]  # fmt: skip
    # when
    plans = chunk_plans(definition, rows)
    # then: the contact by its e-mail, its external id taken by another, and the account
    judge = judge_of(plans)
    reads = assert_probes(judge, "contacts_contact")
    assert any("lower((email)::text)" in r for r in reads), judge
    assert any("contact_site_external_id_unique" in r for r in reads), judge
    reads = assert_probes(judge, "contacts_account")
    index = "account_site_external_id_unique" if account_by == "CompanyIDExt" else "account_site_name_ci"
    assert all(index in r for r in reads), judge
    assert Contact.objects.filter(site=site).count() == RECORDS + 250
    assert Contact.objects.get(site=site, email="c1@example.com").account.external_id == "acc-1"


@pytest.mark.parametrize("identifier", ["CompanyIDExt", "M_CompanyName"])
def test_account_rows_find_their_account_and_taken_values_by_index_probes(settings, identifier):
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 500, 1
    site, other = SiteFactory(), SiteFactory()
    fill(site, other)
    fields = {"Id": "{{Account.Field(CompanyIDExt)}}", "Name": "{{Account.Field(M_CompanyName)}}",
              "Domain": "{{Account.Field(M_Domain)}}"}  # fmt: skip
    definition = define(site, "account", fields, "Id" if identifier == "CompanyIDExt" else "Name")
    rows = [{"Id": f"acc-{i}" if i % 2 else f"new-{i}", "Name": f"Company {i}" if i % 2 else f"New {i}",
             "Domain": f"n{i}.example"} for i in range(1, 501)]  # fmt: skip
    plans = chunk_plans(definition, rows)
    judge = judge_of(plans)
    reads = assert_probes(judge, "contacts_account")
    index = "account_site_extid_ci" if identifier == "CompanyIDExt" else "account_site_name_ci"
    # a bitmap heap scan's read names its table; the index is on its Bitmap Index Scan line
    assert any(index in r for r in reads) or f"Bitmap Index Scan on {index}" in judge, judge
    assert Account.objects.filter(site=site).count() == RECORDS + 250
