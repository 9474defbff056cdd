"""Links have no FK constraints (entities.linkage.models.OpportunityContact): deletes remove links through
statement triggers, and a link writer locks what it links, so a delete racing a sync never leaves
a link to a record that is gone. Real connections, committed data, real lock waits."""

import threading

import psycopg
import pytest
from django.db import connection

from entities.contacts.models import Contact
from entities.linkage.models import OpportunityContact
from pipeline.models import Reject
from pipeline.services import sync_run_chunk
from tests.concurrency import Racer, conninfo, wait_until_blocked
from tests.entities.contacts.factories import ContactFactory
from tests.entities.linkage.helpers import link_definition
from tests.factories import OpportunityFactory
from tests.pipeline.helpers import drive, run_sync, staged_sync

pytestmark = pytest.mark.django_db(transaction=True)


def linked(site) -> set:
    return set(OpportunityContact.objects.filter(site=site).values_list("opportunity_id", "contact_id"))


def test_raw_sql_deletes_remove_the_links(site):
    opps = [OpportunityFactory(site=site, external_id=f"OPP-{i}") for i in range(3)]
    contacts = [ContactFactory(site=site, email=f"c{i}@example.com") for i in range(3)]
    run_sync(link_definition(site), [{"OpportunityID": f"OPP-{i}", "EmailAddress": f"c{j}@example.com"}
                                     for i in range(3) for j in range(3)])  # fmt: skip
    assert len(linked(site)) == 9
    with connection.cursor() as cur:
        cur.execute("DELETE FROM contacts_contact WHERE id = %s", [contacts[0].pk])
        cur.execute("DELETE FROM opportunities_opportunity WHERE id = %s", [opps[1].pk])
    assert linked(site) == {(opps[i].pk, contacts[j].pk) for i in (0, 2) for j in (1, 2)}
    contacts[2].delete()  # the ORM path too
    assert linked(site) == {(opps[i].pk, contacts[1].pk) for i in (0, 2)}


def test_a_contact_deleted_before_the_sync_locks_it_is_unmatched(site):
    # given: a delete of contact `gone` in flight (uncommitted) when the sync's chunk runs
    opp = OpportunityFactory(site=site, external_id="OPP-1")
    kept, gone = (
        ContactFactory(site=site, email="kept@example.com"),
        ContactFactory(site=site, email="gone@example.com"),
    )
    rows = [{"OpportunityID": "OPP-1", "EmailAddress": e} for e in ("kept@example.com", "gone@example.com")]
    sync = staged_sync(link_definition(site), rows)
    deleter = psycopg.connect(conninfo())
    deleter.execute("DELETE FROM contacts_contact WHERE id = %s", [gone.pk])

    # when: the sync's chunk (the production link writer) blocks on the contact's row lock, then
    # the delete commits
    try:
        chunk = Racer(lambda: drive(sync.pk))
        chunk.wait_until_blocked()
        deleter.commit()
    finally:
        deleter.close()
    chunk.join()

    # then: the row naming the deleted contact is unmatched, and no link names it
    sync.refresh_from_db()
    assert sync.status == "warning"
    assert list(Reject.objects.filter(sync=sync).values_list("record_index", "status_code")) == [(2, "ELQ-00085")]
    assert linked(site) == {(opp.pk, kept.pk)}


def test_a_delete_that_waits_for_a_link_writer_removes_the_new_link(site, settings):
    # given: a sync of two rows, one chunk each; the first chunk ran (the sync is active)
    settings.BULK_SYNC_LANES, settings.BULK_SYNC_CHUNK_ROWS = 1, 1
    opp = OpportunityFactory(site=site, external_id="OPP-1")
    first, c = ContactFactory(site=site, email="first@example.com"), ContactFactory(site=site, email="c@example.com")
    rows = [{"OpportunityID": "OPP-1", "EmailAddress": e} for e in ("first@example.com", "c@example.com")]
    sync = staged_sync(link_definition(site), rows)
    drive(sync.pk, chunks=1)
    assert linked(site) == {(opp.pk, first.pk)}
    # and: the second chunk has written its link to `c` and waits, uncommitted, to add its counts
    # to the sync (a test connection holds the sync's row)
    holder = psycopg.connect(conninfo())
    holder.execute("SELECT 1 FROM syncs_sync WHERE id = %s FOR NO KEY UPDATE", [sync.pk])
    try:
        chunk = Racer(lambda: sync_run_chunk(sync_id=sync.pk))
        chunk.wait_until_blocked()
        # when: the contact's delete waits for the chunk (the lock its link statement took on `c`)
        deleter = psycopg.connect(conninfo(), autocommit=True)
        delete = threading.Thread(
            target=lambda: deleter.execute("DELETE FROM contacts_contact WHERE id = %s", [c.pk]), daemon=True
        )
        delete.start()
        try:
            wait_until_blocked(deleter.info.backend_pid, thread=delete)
        finally:
            holder.rollback()  # the chunk commits, then the delete goes on
            delete.join(30)
            deleter.close()
    finally:
        holder.close()
    chunk.join()
    # then: the delete went through and took the link it waited for with it
    assert not delete.is_alive() and not Contact.objects.filter(pk=c.pk).exists()
    assert linked(site) == {(opp.pk, first.pk)}
    sync.refresh_from_db()
    assert (sync.status, sync.created_count) == ("success", 2)
