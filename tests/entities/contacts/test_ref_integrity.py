"""A contact's site and account, and a batch row's job, are checked per statement by triggers
(migrations contacts.0005 and batches.0005), not by FK constraints: any writer (ORM, raw SQL, a
batch sync) is refused a missing one, a site or job still named cannot be deleted, deleting an
account sets it to null, and a delete that races a writer never leaves a row naming what is gone."""

import threading

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from doors.batch.models import BatchRow
from entities.contacts.models import Contact
from tests.concurrency import (
    conninfo,
    refused_by_reference_check,
    wait_until_blocked,
    write_while_a_delete_commits,
    written,
)
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import BatchJobFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = "INSERT INTO contacts_contact (site_id, email, account_id) VALUES (%s, %s, %s)"


def test_contact_writers_are_refused_a_missing_site_or_account(site):
    account = AccountFactory(site=site)
    contact = ContactFactory(site=site)
    refused_by_reference_check(lambda cur: cur.execute(INSERT, [999_999, "a@example.com", None]))
    refused_by_reference_check(lambda cur: cur.execute(INSERT, [site.pk, "b@example.com", 999_999]))
    refused_by_reference_check(
        lambda cur: cur.execute("UPDATE contacts_contact SET account_id = 999999 WHERE id = %s", [contact.pk])
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.filter(pk=contact.pk).update(site_id=999_999)
    # a set of rows with one bad reference fails whole
    refused_by_reference_check(
        lambda cur: cur.execute(
            "INSERT INTO contacts_contact (site_id, email, account_id)"
            " SELECT %s, 'p' || i || '@example.com', CASE WHEN i = 50 THEN 999999 END FROM generate_series(1, 100) i",
            [site.pk],
        )
    )
    assert list(Contact.objects.filter(site=site).values_list("pk", "account_id")) == [(contact.pk, None)]
    written(lambda cur: cur.execute(INSERT, [site.pk, "ok@example.com", account.pk]))


def test_deleting_an_account_sets_it_to_null_and_a_named_site_cannot_go(site):
    account = AccountFactory(site=site)
    raw, orm = ContactFactory(site=site, account=account), ContactFactory(site=site)
    with connection.cursor() as cur:  # raw SQL: the delete trigger does what on_delete says
        cur.execute("DELETE FROM contacts_account WHERE id = %s", [account.pk])
    raw.refresh_from_db()
    assert raw.account_id is None
    account = AccountFactory(site=site)
    Contact.objects.filter(pk=orm.pk).update(account=account)
    account.delete()
    orm.refresh_from_db()
    assert orm.account_id is None
    refused_by_reference_check(lambda cur: cur.execute("DELETE FROM bulkapi_site WHERE id = %s", [site.pk]))
    assert Contact.objects.filter(site=site).count() == 2
    other = SiteFactory()
    ContactFactory(site=other)
    other.delete()  # the ORM's cascade deletes the site's contacts first
    assert not Contact.objects.filter(site_id=other.pk).exists()


def test_an_account_delete_that_waits_for_a_contact_writer_sets_its_contact_to_null(site):
    account = AccountFactory(site=site)
    writer = psycopg.connect(conninfo())
    writer.execute(INSERT, [site.pk, "w@example.com", account.pk])  # uncommitted; its trigger locked the account
    deleter = psycopg.connect(conninfo(), autocommit=True)
    done = {}

    def delete():
        deleter.execute("DELETE FROM contacts_account WHERE id = %s", [account.pk])
        done["deleted"] = True

    thread = threading.Thread(target=delete)
    thread.start()
    try:
        wait_until_blocked(deleter.info.backend_pid, thread=thread)  # the delete waits on the account's row lock
        writer.commit()
        thread.join(timeout=30)
    finally:
        writer.close()
        deleter.close()
    assert done == {"deleted": True}
    assert Contact.objects.get(site=site, email="w@example.com").account_id is None


def test_an_account_delete_that_commits_first_fails_the_waiting_contact_writer(site):
    account = AccountFactory(site=site)
    refusal = write_while_a_delete_commits(
        "DELETE FROM contacts_account WHERE id = %s",
        [account.pk],
        lambda: refused_by_reference_check(lambda cur: cur.execute(INSERT, [site.pk, "late@example.com", account.pk])),
    )
    assert "contact names a site or account that does not exist" in refusal
    assert not Contact.objects.filter(site=site, email="late@example.com").exists()


def test_batch_rows_need_their_job_and_a_named_job_cannot_go(site):
    job = BatchJobFactory(site=site)
    insert = (
        "INSERT INTO batches_batchrow (job_id, row_number, opportunity_id) SELECT %s, i, i FROM generate_series(1, 3) i"
    )
    refused_by_reference_check(lambda cur: cur.execute(insert, [999_999]))
    written(lambda cur: cur.execute(insert, [job.pk]))
    refused_by_reference_check(
        lambda cur: cur.execute("UPDATE batches_batchrow SET job_id = 999999 WHERE job_id = %s", [job.pk])
    )
    refused_by_reference_check(lambda cur: cur.execute("DELETE FROM batches_batchjob WHERE id = %s", [job.pk]))
    assert BatchRow.objects.filter(job=job).count() == 3
    job.delete()  # the ORM deletes the job's rows first
    assert not BatchRow.objects.filter(job_id=job.pk).exists()
