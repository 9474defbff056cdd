"""The set-based opportunity sync: rejects, update rules, matching, chunking, crash safety."""

from decimal import Decimal

import pytest

from entities.opportunities.models import Opportunity
from pipeline.models import CustomField, Reject, StagedRow, SyncLog
from tests.factories import ImportDefinitionFactory, OpportunityFactory
from tests.pipeline.helpers import drive, run_sync, stage, staged_sync

pytestmark = pytest.mark.django_db


def row(i, **kw):
    base = {"OpportunityID": str(i), "OpportunityName": f"Deal {i}", "Amount": "100", "Stage": "Proposal"}
    base.update(kw)
    return base


def opp(site, ext):
    return Opportunity.objects.select_related("stage").get(site=site, external_id=ext)


def rejects(sync):
    return {r.record_index: (r.status_code, r.invalid_fields, r.message) for r in Reject.objects.filter(sync=sync)}


def logs(sync):
    return {log.status_code: log.count for log in SyncLog.objects.filter(sync=sync)}


def test_valid_rows_are_created_with_parsed_values(site):
    definition = ImportDefinitionFactory(site=site)
    sync = run_sync(definition, [
        row(1, Amount="1000000", CreatedDate="2017-10-05 1:15", CloseDate="", Currency="usd", AccountName="Acme"),
        row(2, Amount="12.5", CloseDate="10/31/2024", CreatedDate="2024-01-02T03:04:05+02:00", Stage="closed won"),
    ])  # fmt: skip
    assert sync.status == "success"
    one, two = opp(site, "1"), opp(site, "2")
    assert one.amount == Decimal("1000000") and one.currency == "USD" and one.account_name == "Acme"
    assert one.close_date is None and one.created_at.isoformat() == "2017-10-05T01:15:00+00:00"
    assert two.close_date.isoformat() == "2024-10-31" and two.stage.name == "Closed Won"
    assert two.created_at.isoformat() == "2024-01-02T01:04:05+00:00"
    assert logs(sync)["ELQ-00001"] == 2 and logs(sync)["ELQ-00049"] == 2 and logs(sync)["ELQ-00060"] == 0
    assert StagedRow.objects.filter(definition=definition).count() == 0  # consumed


def test_invalid_rows_become_rejects_and_never_half_write(site):
    definition = ImportDefinitionFactory(site=site)
    sync = run_sync(definition, [
        row(1),
        row(2, Amount="ten"),
        row(3, CloseDate="2024-02-30"),
        row(4, OpportunityID=""),
        row(5, OpportunityName=""),
        row(6, OpportunityName="x" * 256),
        row(7, Currency="ZZZ"),
        row(8, Stage="Imaginary"),
        {},
        row(10, Amount="1e20"),
        row(11, CreatedDate="yesterday", Amount="5"),
        row(12, CreatedDate="2024-01-02T03:04:05+25:00"),
    ])  # fmt: skip
    assert sync.status == "warning"
    assert list(Opportunity.objects.filter(site=site).values_list("external_id", flat=True)) == ["1"]
    assert rejects(sync) == {
        2: ("ELQ-00032", ["Amount"], "Malformed records."),
        3: ("ELQ-00032", ["CloseDate"], "Malformed records."),
        4: ("ELQ-00061", ["OpportunityID"], "Rejected records (missing fields)."),
        5: ("ELQ-00061", ["OpportunityName"], "Rejected records (missing fields)."),
        6: ("ELQ-00032", ["OpportunityName"], "Malformed records."),
        7: ("ELQ-00032", ["Currency"], "Malformed records."),
        8: ("ELQ-00039", ["Stage"], "Invalid opportunity stage."),
        9: ("ELQ-00059", [], "Empty records."),
        10: ("ELQ-00032", ["Amount"], "Malformed records."),
        11: ("ELQ-00032", ["CreatedDate"], "Malformed records."),
        12: ("ELQ-00032", ["CreatedDate"], "Malformed records."),  # a zone beyond +/-15:59
    }
    reject = Reject.objects.get(sync=sync, record_index=2)
    assert reject.field_values == row(2, Amount="ten")
    counts = logs(sync)
    assert counts["ELQ-00032"] == 7 and counts["ELQ-00061"] == 2 and counts["ELQ-00039"] == 1
    assert counts["ELQ-00059"] == 1 and counts["ELQ-00060"] == 11 and counts["ELQ-00049"] == 1
    assert SyncLog.objects.get(sync=sync, status_code="ELQ-00101").message == (
        f"Sync processed for sync {sync.pk}, resulting in warning status."
    )


def test_duplicate_identifiers_reject_every_row_after_the_first_even_across_chunks(site, settings):
    settings.BULK_SYNC_CHUNK_ROWS = 2
    definition = ImportDefinitionFactory(site=site)
    sync = run_sync(
        definition, [row(1, OpportunityName="first"), row(2), row(3), row("1", OpportunityName="again"), row(1)]
    )
    assert opp(site, "1").name == "first"
    assert {i: c for i, (c, _, _) in rejects(sync).items()} == {4: "ELQ-00026", 5: "ELQ-00026"}
    assert sync.processed == 5 and sync.rejected == 2 and sync.created_count == 3


def _existing(site, **kw):
    defaults = {"name": "Old", "amount": Decimal("1"), "territory": "North", "account_name": None}
    defaults.update(kw)
    return OpportunityFactory(site=site, external_id="E1", **defaults)


@pytest.mark.parametrize(
    "rule,expected",
    [
        # incoming: Territory "" (blank), AccountName "NewCo", OpportunityName "New"
        ("always", {"territory": None, "account_name": "NewCo", "name": "New"}),
        ("ifNewIsNotNull", {"territory": "North", "account_name": "NewCo", "name": "New"}),
        ("ifExistingIsNull", {"territory": "North", "account_name": "NewCo", "name": "Old"}),
    ],
)
def test_update_rules(site, rule, expected):
    _existing(site)
    definition = ImportDefinitionFactory(site=site, update_rule=rule)
    sync = run_sync(definition, [row("E1", OpportunityName="New", Territory="", AccountName="NewCo", Amount="7")])
    assert sync.status == "success" and sync.updated_count == 1 and sync.created_count == 0
    got = opp(site, "E1")
    assert {k: getattr(got, k) for k in expected} == expected


def test_use_field_rule_applies_each_fields_rule(site):
    _existing(site, account_name="KeepCo")
    definition = ImportDefinitionFactory(
        site=site, update_rule="useFieldRule",
        update_rule_by_field={"Territory": "ifNewIsNotNull", "AccountName": "ifExistingIsNull"},
    )  # fmt: skip
    run_sync(definition, [row("E1", OpportunityName="New", Territory="", AccountName="NewCo")])
    got = opp(site, "E1")
    assert (got.territory, got.account_name, got.name) == ("North", "KeepCo", "New")


def test_required_fields_are_never_cleared_by_blank_values_on_update(site):
    _existing(site, name="Keep", amount=Decimal("5"))
    definition = ImportDefinitionFactory(site=site)
    sync = run_sync(definition, [row("E1", OpportunityName="", Amount="", Stage="")])
    assert sync.status == "success"
    got = opp(site, "E1")
    assert (got.name, got.amount) == ("Keep", Decimal("5.0000"))


def test_identifier_matching_is_case_insensitive_by_default(site):
    OpportunityFactory(site=site, external_id="ABC-1", name="Old")
    sync = run_sync(ImportDefinitionFactory(site=site), [row("abc-1", OpportunityName="New")])
    assert sync.updated_count == 1 and sync.created_count == 0
    assert list(Opportunity.objects.filter(site=site).values_list("external_id", "name")) == [("ABC-1", "New")]


def test_case_sensitive_identifier_creates_a_separate_opportunity(site):
    OpportunityFactory(site=site, external_id="ABC-1", name="Old")
    definition = ImportDefinitionFactory(site=site, is_identifier_field_case_sensitive=True)
    sync = run_sync(definition, [row("abc-1", OpportunityName="New")])
    assert sync.created_count == 1 and sync.updated_count == 0
    assert sorted(Opportunity.objects.filter(site=site).values_list("external_id", "name")) == [
        ("ABC-1", "Old"), ("abc-1", "New"),
    ]  # fmt: skip


def test_multiple_matches_update_one_or_all(site):
    OpportunityFactory(site=site, external_id="M-1", name="a")
    OpportunityFactory(site=site, external_id="m-1", name="b")
    run_sync(ImportDefinitionFactory(site=site), [row("M-1", OpportunityName="one")])
    assert sorted(Opportunity.objects.filter(site=site).values_list("name", flat=True)) == ["b", "one"]
    definition = ImportDefinitionFactory(site=site, is_updating_multiple_matched_records=True)
    run_sync(definition, [row("M-1", OpportunityName="all")])
    assert sorted(Opportunity.objects.filter(site=site).values_list("name", flat=True)) == ["all", "all"]


def test_import_rules(site):
    OpportunityFactory(site=site, external_id="E1", name="Old")
    only_update = run_sync(
        ImportDefinitionFactory(site=site, import_rule="updateOnly"), [row("E1", OpportunityName="U"), row("N1")]
    )
    assert {c for c, _, _ in rejects(only_update).values()} == {"ELQ-00084"}
    assert opp(site, "E1").name == "U" and not Opportunity.objects.filter(external_id="N1").exists()
    only_create = run_sync(
        ImportDefinitionFactory(site=site, import_rule="createOnly"), [row("E1", OpportunityName="C"), row("N2")]
    )
    assert [c for c, _, _ in rejects(only_create).values()] == ["ELQ-00026"]
    assert opp(site, "E1").name == "U" and opp(site, "N2").name == "Deal N2"


def test_custom_fields_import_like_standard_ones(site):
    CustomField.objects.create(site=site, entity="opportunity", name="Seats", internal_name="Seats", data_type="number")
    CustomField.objects.create(site=site, entity="opportunity", name="Region", internal_name="Region", max_length=5)
    fields = [
        *ImportDefinitionFactory.build().fields,
        ["Seats", "{{Opportunity.Field(Seats)}}"],
        ["Region", "{{Opportunity.Field(Region)}}"],
    ]
    definition = ImportDefinitionFactory(site=site, fields=fields)
    sync = run_sync(definition, [row(1, Seats="12", Region="EMEA"), row(2, Seats="many"), row(3, Region="TOOLONG")])
    assert opp(site, "1").custom_fields == {"Seats": 12, "Region": "EMEA"}
    assert {i: f for i, (_, f, _) in rejects(sync).items()} == {2: ["Seats"], 3: ["Region"]}
    run_sync(
        ImportDefinitionFactory(site=site, fields=fields, update_rule="ifNewIsNotNull"),
        [row(1, Seats="", Region="APAC")],
    )
    assert opp(site, "1").custom_fields == {"Seats": 12, "Region": "APAC"}


def test_record_index_counts_across_uploads_and_chunks(site, settings):
    settings.BULK_SYNC_CHUNK_ROWS = 3
    definition = ImportDefinitionFactory(site=site)
    stage(definition, [row(1), row(2, Amount="x")])
    stage(definition, [row(3), row(4), row(5, Amount="y")])
    sync = run_sync(definition)
    assert sorted(rejects(sync)) == [2, 5]
    assert logs(sync)["ELQ-00130"] == 5


def test_empty_sync_succeeds_with_no_data_log(site):
    sync = run_sync(ImportDefinitionFactory(site=site), [])
    assert sync.status == "success"
    assert "ELQ-00124" in logs(sync)


def test_rows_staged_after_the_sync_started_wait_for_the_next_sync(site):

    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(1)])
    stage(definition, [row(2)])
    drive(sync.pk)
    assert list(Opportunity.objects.filter(site=site).values_list("external_id", flat=True)) == ["1"]
    assert StagedRow.objects.filter(definition=definition).count() == 1
    run_sync(definition)
    assert Opportunity.objects.filter(site=site).count() == 2


def test_a_definition_with_a_running_sync_cannot_be_deleted_by_any_path(site):
    """The API refuses (409), and the database refuses the ORM's delete (it detaches the syncs by SET
    NULL first) and a raw DELETE: the sync keeps the definition its staged rows belong to."""
    from django.db import IntegrityError, connection, transaction

    from kernel.exceptions import Conflict
    from pipeline.services.imports import import_definition_delete

    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(1)])
    with pytest.raises(Conflict):
        import_definition_delete(definition=definition)
    with pytest.raises(IntegrityError, match="pending or active sync|has a pending sync"), transaction.atomic():
        definition.delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM bulkapi_importdefinition WHERE id = %s", [definition.pk])
    assert StagedRow.objects.filter(definition=definition).count() == 1
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success" and sync.created_count == 1
    import_definition_delete(definition=definition)  # once the sync has ended
    sync.refresh_from_db()
    assert sync.definition_id is None and sync.status == "success"


def _snapshot(site, sync):
    opps = sorted(Opportunity.objects.filter(site=site).values_list("external_id", "name", "amount", "stage__name"))
    rej = sorted(Reject.objects.filter(sync=sync).values_list("record_index", "status_code"))
    return opps, rej, (sync.processed, sync.rejected, sync.created_count, sync.updated_count, sync.status)


def test_a_crash_mid_chunk_rolls_back_whole_and_the_rerun_matches_a_clean_run(site, settings, monkeypatch):
    """Run part of a sync, crash inside a chunk after its writes, rerun: same result as a clean run."""
    import entities.opportunities.sql
    from tests.factories import SiteFactory

    settings.BULK_SYNC_CHUNK_ROWS = 4
    settings.BULK_SYNC_LANES = 2
    rows = [row(i, Amount="bad" if i % 5 == 0 else str(i)) for i in range(1, 15)] + [row(3)]
    clean_site = SiteFactory()
    clean = run_sync(ImportDefinitionFactory(site=clean_site), rows)

    definition = ImportDefinitionFactory(site=site)
    real = entities.opportunities.sql.process_chunk
    calls = {"n": 0}

    def crashing(cursor, **kw):
        result = real(cursor, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker died mid-chunk")
        return result

    monkeypatch.setattr(entities.opportunities.sql, "process_chunk", crashing)
    with pytest.raises(RuntimeError):
        run_sync(definition, rows)
    from pipeline.models import Sync, SyncLane

    sync = Sync.objects.get(definition=definition)
    # The first chunk (lane 0, range 0) is committed, the second (lane 1, range 0) is not.
    assert sorted(SyncLane.objects.filter(sync=sync).values_list("lane", "next_range")) == [(0, 1), (1, 0)]
    assert 0 < sync.processed < 8 and sync.processed == sync.created_count + sync.rejected
    assert Opportunity.objects.filter(site=site).count() == sync.created_count
    monkeypatch.setattr(entities.opportunities.sql, "process_chunk", real)
    drive(sync.pk)
    sync.refresh_from_db()
    clean_opps, clean_rej, clean_counts = _snapshot(clean_site, clean)
    opps, rej, counts = _snapshot(site, sync)
    assert (opps, rej, counts) == (clean_opps, clean_rej, clean_counts)
    assert counts == (15, 3, 12, 0, "warning")


def test_every_log_row_carries_one_of_eloquas_three_severities(site):
    definition = ImportDefinitionFactory(site=site)
    sync = run_sync(definition, [{"OpportunityID": "1", "OpportunityName": "n", "Amount": "x", "Stage": "Proposal"}])
    severities = set(SyncLog.objects.filter(sync=sync).values_list("status_code", "severity"))
    assert ("ELQ-00137", "information") in severities
    assert {s for _, s in severities} <= {"information", "warning", "error"}
