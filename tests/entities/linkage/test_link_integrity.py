"""Links have no FK constraints (entities.linkage.models.OpportunityContact): deletes remove links through
statement triggers, and a link writer locks what it links, so a delete racing a sync never leaves
a link to a record that is gone. Real connections, committed data, real lock waits."""

import threading

import psycopg
import pytest
from django.db import connection

from entities.linkage.models import OpportunityContact
from pipeline.models import Reject
from tests.concurrency import conninfo, wait_until_blocked
from tests.entities.contacts.factories import ContactFactory
from tests.entities.linkage.helpers import link_definition
from tests.factories import OpportunityFactory
from tests.pipeline.helpers import run_sync

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
    definition = link_definition(site)
    rows = [{"OpportunityID": "OPP-1", "EmailAddress": e} for e in ("kept@example.com", "gone@example.com")]
    deleter = psycopg.connect(conninfo())
    deleter.execute("DELETE FROM contacts_contact WHERE id = %s", [gone.pk])
    result = {}

    def sync():
        try:
            result["sync"] = run_sync(definition, rows)
        finally:
            connection.close()

    # when: the sync blocks on the contact's row lock, then the delete commits
    thread = threading.Thread(target=sync)
    thread.start()
    try:
        wait_until_blocked()
        deleter.commit()
    finally:
        deleter.close()
        thread.join(timeout=60)
    # then: the row naming the deleted contact is unmatched, and no link names it
    sync = result["sync"]
    assert sync.status == "warning"
    assert list(Reject.objects.filter(sync=sync).values_list("record_index", "status_code")) == [(2, "ELQ-00085")]
    assert linked(site) == {(opp.pk, kept.pk)}


def test_a_delete_that_waits_for_a_link_writer_removes_the_new_link(site):
    # given: a transaction that locked contact `c` as link writers do and linked it, uncommitted
    opp, c = OpportunityFactory(site=site, external_id="OPP-1"), ContactFactory(site=site, email="c@example.com")
    writer = psycopg.connect(conninfo())
    writer.execute("SELECT id FROM contacts_contact WHERE id = %s FOR KEY SHARE", [c.pk])
    writer.execute(
        "INSERT INTO linkage_opportunitycontact (site_id, opportunity_id, contact_id) VALUES (%s, %s, %s)",
        [site.pk, opp.pk, c.pk],
    )
    deleter = psycopg.connect(conninfo(), autocommit=True)
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (deleter.execute("DELETE FROM contacts_contact WHERE id = %s", [c.pk]), done.set())
    )
    # when: the contact's delete waits for the writer, which then commits
    thread.start()
    try:
        wait_until_blocked()
        assert not done.is_set()
        writer.commit()
        thread.join(timeout=30)
    finally:
        writer.close()
    deleter.close()
    # then: the delete went through and took the link it waited for with it
    assert done.is_set()
    assert linked(site) == set()
