"""An opportunity's site, stage, company and owner are checked per statement by triggers
(migrations opportunities.0004 and 0005), not by FK constraints: any writer (ORM, raw SQL, bulk
sync) is refused a missing one, a stage or site still in use cannot be deleted, deleting a company
or owner sets it to null, and a delete that races a writer never leaves an opportunity naming a
deleted stage."""

import threading

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from entities.opportunities.models import Opportunity, Owner, Stage
from tests.concurrency import (
    conninfo,
    refused_by_reference_check,
    wait_until_blocked,
    write_while_a_delete_commits,
    written,
)
from tests.factories import OpportunityContactFactory, OpportunityFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = "INSERT INTO opportunities_opportunity (site_id, external_id, name, stage_id) VALUES (%s, %s, 'x', %s)"


def test_writers_are_refused_a_missing_stage_or_site(site):
    stage = Stage.objects.for_site(site).first()
    opp = OpportunityFactory(site=site, stage=stage)
    refused_by_reference_check(lambda cur: cur.execute(INSERT, [site.pk, "A", 999_999]))
    refused_by_reference_check(lambda cur: cur.execute(INSERT, [999_999, "B", stage.pk]))
    refused_by_reference_check(
        lambda cur: cur.execute("UPDATE opportunities_opportunity SET stage_id = 999999 WHERE id = %s", [opp.pk])
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.filter(pk=opp.pk).update(stage_id=999_999)
    # a set of rows with one bad reference fails whole
    refused_by_reference_check(
        lambda cur: cur.execute(
            "INSERT INTO opportunities_opportunity (site_id, external_id, name, stage_id)"
            " SELECT %s, 'R' || i, 'x', CASE WHEN i = 50 THEN 999999 ELSE %s END FROM generate_series(1, 100) i",
            [site.pk, stage.pk],
        )
    )
    assert list(Opportunity.objects.filter(site=site).values_list("pk", "stage_id")) == [(opp.pk, stage.pk)]
    written(lambda cur: cur.execute(INSERT, [site.pk, "OK", stage.pk]))


def test_writers_are_refused_a_missing_company_or_owner(site):
    from tests.entities.contacts.factories import AccountFactory

    opp = OpportunityFactory(site=site)
    account = AccountFactory(site=site)
    owner = Owner.objects.create(site=site, external_id="u1", name="Ann")
    for column in ("company_id", "owner_id"):
        refused_by_reference_check(
            lambda cur, column=column: cur.execute(
                f"UPDATE opportunities_opportunity SET {column} = 999999 WHERE id = %s", [opp.pk]
            )
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        OpportunityFactory(site=site, company_id=999_999)
    assert list(Opportunity.objects.filter(site=site).values_list("company_id", "owner_id")) == [(None, None)]
    Opportunity.objects.filter(pk=opp.pk).update(company=account, owner=owner)
    opp.refresh_from_db()
    assert (opp.company_id, opp.owner_id) == (account.pk, owner.pk)


def test_deleting_a_company_or_owner_sets_it_to_null(site):
    from tests.entities.contacts.factories import AccountFactory

    account = AccountFactory(site=site)
    owner = Owner.objects.create(site=site, external_id="u1", name="Ann")
    raw, orm = OpportunityFactory(site=site, company=account, owner=owner), OpportunityFactory(site=site)
    with connection.cursor() as cur:  # raw SQL: the delete triggers do what on_delete says
        cur.execute("DELETE FROM contacts_account WHERE id = %s", [account.pk])
        cur.execute("DELETE FROM opportunities_owner WHERE id = %s", [owner.pk])
    raw.refresh_from_db()
    assert (raw.company_id, raw.owner_id) == (None, None)
    account, owner = AccountFactory(site=site), Owner.objects.create(site=site, external_id="u2", name="Bo")
    Opportunity.objects.filter(pk=orm.pk).update(company=account, owner=owner)
    account.delete()
    owner.delete()
    orm.refresh_from_db()
    assert (orm.company_id, orm.owner_id) == (None, None)
    assert Opportunity.objects.filter(site=site).count() == 2


RUDDR_REFS = ("opportunity_type_id", "lead_source_id", "practice_id")


def test_writers_are_refused_a_missing_type_lead_source_or_practice(site):
    from tests.factories import LeadSourceFactory, OpportunityTypeFactory, PracticeFactory

    opp = OpportunityFactory(site=site)
    for column in RUDDR_REFS:
        refused_by_reference_check(
            lambda cur, column=column: cur.execute(
                f"UPDATE opportunities_opportunity SET {column} = 999999 WHERE id = %s", [opp.pk]
            )
        )
    kind, source, practice = OpportunityTypeFactory(site=site), LeadSourceFactory(site=site), PracticeFactory(site=site)
    written(
        lambda cur: cur.execute(
            "UPDATE opportunities_opportunity SET opportunity_type_id = %s, lead_source_id = %s, practice_id = %s"
            " WHERE id = %s",
            [kind.pk, source.pk, practice.pk, opp.pk],
        )
    )


def test_deleting_a_type_lead_source_or_practice_sets_it_to_null(site):
    from tests.factories import LeadSourceFactory, OpportunityTypeFactory, PracticeFactory

    refs = {"opportunity_type": OpportunityTypeFactory, "lead_source": LeadSourceFactory, "practice": PracticeFactory}
    raw = OpportunityFactory(site=site, **{name: make(site=site) for name, make in refs.items()})
    orm = OpportunityFactory(site=site, **{name: make(site=site) for name, make in refs.items()})
    with connection.cursor() as cur:  # raw SQL: the delete triggers do what on_delete says
        for name in refs:
            table = Opportunity._meta.get_field(name).related_model._meta.db_table
            cur.execute(f"DELETE FROM {table} WHERE id = %s", [getattr(raw, f"{name}_id")])
    for name in refs:
        getattr(orm, name).delete()
    for opp in (raw, orm):
        opp.refresh_from_db()
        assert [getattr(opp, column) for column in RUDDR_REFS] == [None, None, None]


def test_stages_and_sites_in_use_cannot_be_deleted(site):
    used, unused = Stage.objects.for_site(site).order_by("id")[:2]
    OpportunityFactory(site=site, stage=used)
    refused_by_reference_check(lambda cur: cur.execute("DELETE FROM opportunities_stage WHERE id = %s", [used.pk]))
    refused_by_reference_check(lambda cur: cur.execute("DELETE FROM bulkapi_site WHERE id = %s", [site.pk]))
    written(lambda cur: cur.execute("DELETE FROM opportunities_stage WHERE id = %s", [unused.pk]))
    assert Stage.objects.filter(pk=used.pk).exists()
    other = SiteFactory()
    other.delete()  # the ORM's cascade deletes the site's stages (none in use) and the site


def test_a_stage_delete_that_commits_first_fails_the_waiting_writer(site):
    stage = Stage.objects.for_site(site).exclude(pk=site.default_stage_id).first()  # the default can't go
    refusal = write_while_a_delete_commits(
        "DELETE FROM opportunities_stage WHERE id = %s",
        [stage.pk],
        lambda: refused_by_reference_check(lambda cur: cur.execute(INSERT, [site.pk, "A", stage.pk])),
    )
    assert "names a site, stage" in refusal
    assert not Opportunity.objects.filter(site=site).exists()


def test_a_stage_delete_that_waits_for_a_writer_fails(site):
    stage = Stage.objects.for_site(site).first()
    writer = psycopg.connect(conninfo())
    writer.execute(INSERT, [site.pk, "A", stage.pk])  # uncommitted; its trigger locked the stage
    deleter = psycopg.connect(conninfo(), autocommit=True)
    result = {}

    def delete():
        try:
            deleter.execute("DELETE FROM opportunities_stage WHERE id = %s", [stage.pk])
            result["deleted"] = True
        except psycopg.errors.ForeignKeyViolation:
            result["deleted"] = False

    thread = threading.Thread(target=delete)
    thread.start()
    try:
        wait_until_blocked(deleter.info.backend_pid, thread=thread)  # on the stage the writer locked
        writer.commit()
        thread.join(timeout=30)
    finally:
        writer.close()
        deleter.close()
    assert result["deleted"] is False
    assert Opportunity.objects.get(site=site, external_id="A").stage_id == stage.pk


def test_deleting_a_sites_opportunities_then_the_site_cascades_through_the_triggers(site):
    from entities.contacts.models import Contact
    from entities.linkage.models import OpportunityContact
    from tests.entities.contacts.factories import ContactFactory

    opp = OpportunityFactory(site=site)
    contact = ContactFactory(site=site)
    OpportunityContactFactory(site=site, opportunity=opp, contact=contact)
    Opportunity.objects.filter(site=site).delete()  # stages PROTECT their opportunities (Django)
    assert not OpportunityContact.objects.filter(opportunity_id=opp.pk).exists()
    site.delete()
    assert not Opportunity.objects.filter(pk=opp.pk).exists()
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not OpportunityContact.objects.filter(opportunity_id=opp.pk).exists()
    assert not Stage.objects.filter(site_id=site.pk).exists()
