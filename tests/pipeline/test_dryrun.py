"""The admin's dry run runs the real pipeline (the entity's chunk processor) and leaves no trace."""

from __future__ import annotations

import pytest
from django.db import connection

from pipeline.dryrun import sync_dry_run
from pipeline.models import ImportDefinition
from pipeline.services.imports import import_definition_create
from tests.factories import ImportDefinitionFactory, OpportunityFactory, UserFactory
from tests.pipeline.helpers import run_sync, stage

pytestmark = pytest.mark.django_db

ROWS = [
    {"OpportunityID": "A-1", "OpportunityName": "Renamed", "Amount": "5", "Stage": "Proposal"},
    {"OpportunityID": "A-4", "OpportunityName": "New", "Amount": "7.5", "Stage": "prospecting"},
    {"OpportunityID": "A-5", "OpportunityName": "Bad amount", "Amount": "ten", "Stage": "Proposal"},
    {"OpportunityID": "A-6", "OpportunityName": "Bad stage", "Amount": "1", "Stage": "Nope"},
    {"OpportunityID": "a-4", "OpportunityName": "Again", "Amount": "1", "Stage": "Proposal"},
    {"OpportunityID": "A-7", "Amount": "1"},
]


def fingerprint() -> tuple:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM opportunities_opportunity),"
            " (SELECT coalesce(string_agg(external_id || ':' || name || ':' || coalesce(amount::text, ''), ',' ORDER BY id), '')"
            "   FROM opportunities_opportunity),"
            " (SELECT count(*) FROM syncs_sync), (SELECT count(*) FROM syncs_reject),"
            " (SELECT count(*) FROM syncs_synclog), (SELECT count(*) FROM bulkapi_importdefinition),"
            " (SELECT count(*) FROM bulkapi_stagedrow), (SELECT count(*) FROM bulkapi_stagedupload)"
        )
        return cur.fetchone()


def draft_with(site, rows, keys=None) -> ImportDefinition:
    draft = ImportDefinitionFactory(site=site, is_internal=True, name="draft")
    if keys:
        draft.fields = [[k, ""] for k in keys]
        draft.save()
    stage(draft, rows)
    return draft


def test_dry_run_says_what_the_sync_will_do_and_writes_nothing(site, user):
    # given an existing opportunity and a file that updates it, creates one and has bad rows
    definition = ImportDefinitionFactory(site=site)
    OpportunityFactory(site=site, external_id="A-1", name="Old")
    draft = draft_with(site, ROWS)
    before = fingerprint()
    # when
    result = sync_dry_run(staged_definition_id=draft.pk, definition=definition, user=user)
    # then nothing is left behind
    assert fingerprint() == before
    outcomes = [(r.record_index, r.outcome, r.code, r.invalid_fields) for r in result.rows]
    assert outcomes == [
        (1, "update", None, []),
        (2, "create", None, []),
        (3, "reject", "ELQ-00032", ["Amount"]),
        (4, "reject", "ELQ-00039", ["Stage"]),
        (5, "reject", "ELQ-00026", ["OpportunityID"]),
        (6, "reject", "ELQ-00061", ["OpportunityName", "Stage"]),
    ]
    assert (result.processed, result.created, result.updated, result.rejected) == (6, 1, 1, 4)
    assert result.rows[2].values["Amount"] == "ten"
    # and a real sync of the same rows does exactly that
    sync = run_sync(definition, ROWS, user=user)
    rejects = list(sync.rejects.order_by("record_index").values_list("record_index", "status_code"))
    assert rejects == [(r.record_index, r.code) for r in result.rows if r.outcome == "reject"]
    assert (sync.created_count, sync.updated_count, sync.rejected) == (1, 1, 4)


def test_dry_run_of_a_new_definition_makes_it_only_for_the_run(site, user):
    keys = ("Id", "Name", "Amount", "Stage", "Junk")
    draft = draft_with(site, [{"Id": "N-1", "Name": "x", "Amount": "1", "Stage": "Proposal", "Junk": "j"}], keys)
    body = {
        "name": "New from header",
        "fields": {
            "Id": "{{Opportunity.Id}}",
            "Name": "{{Opportunity.Field(Name)}}",
            "Amount": "{{Opportunity.Field(Amount)}}",
            "Stage": "{{Opportunity.Field(Stage)}}",
        },
        "identifierFieldName": "Id",
    }
    before = fingerprint()
    result = sync_dry_run(
        staged_definition_id=draft.pk,
        definition=lambda: import_definition_create(site=site, user=user, entity="opportunity", body=body),
        user=user,
    )
    assert fingerprint() == before
    assert [(r.outcome, r.values["Id"]) for r in result.rows] == [("create", "N-1")]
    assert not ImportDefinition.objects.filter(name="New from header").exists()


def test_dry_run_reads_only_the_first_rows_and_ignores_other_staged_rows(site):
    user = UserFactory(site=site)
    definition = ImportDefinitionFactory(site=site)
    stage(definition, [{"OpportunityID": "OTHER", "OpportunityName": "o", "Amount": "1", "Stage": "Proposal"}])
    draft = draft_with(
        site,
        [{"OpportunityID": f"R-{i}", "OpportunityName": "r", "Amount": "1", "Stage": "Proposal"} for i in range(30)],
    )
    result = sync_dry_run(staged_definition_id=draft.pk, definition=definition, user=user, rows=20)
    assert [r.values["OpportunityID"] for r in result.rows] == [f"R-{i}" for i in range(20)]
    assert result.created == 20
