"""A sync's lanes: every staged row in exactly one lane, one identifier's rows in one lane, record
indexes the same as with one lane, and the same outcome whatever the number of lanes."""

import pytest
from django.db import connection
from psycopg import sql

from entities.opportunities.models import Opportunity
from pipeline.catalog import mappings_for
from pipeline.models import Reject, StagedRow, Sync, SyncLane
from pipeline.processors import lane_bounds_sample, lane_key_for, staged_chunk
from pipeline.services import sync_run_chunk
from tests.factories import ImportDefinitionFactory, SiteFactory
from tests.pipeline.helpers import drive, run_sync, stage, staged_sync

pytestmark = pytest.mark.django_db


def rows():
    out = []
    for i in range(1, 121):
        ident = f"id-{i % 40}" if i % 3 else f"ID-{i % 40}"  # repeats, and case variants of them
        if i % 17 == 0:
            ident = f"bad-{i}"  # its own identifier, so the malformed amount decides (ELQ-00032)
        out.append({"OpportunityID": ident, "OpportunityName": f"Deal {i}", "Stage": "Proposal",
                    "Amount": "bad" if i % 17 == 0 else str(i)})  # fmt: skip
    return out


def expected() -> tuple[dict, dict]:
    """For `rows()` synced in staged order: each identifier's first row, and the rejects by record index."""
    first_of, rejects = {}, {}
    for i, r in enumerate(rows(), start=1):
        first_of.setdefault(r["OpportunityID"].lower(), i)
    for i, r in enumerate(rows(), start=1):
        if i % 17 == 0:
            rejects[i] = "ELQ-00032"
        elif first_of[r["OpportunityID"].lower()] != i:
            rejects[i] = "ELQ-00026"
    return first_of, rejects


@pytest.mark.parametrize("by", ["key range", "hash"])
def test_lanes_partition_the_staged_rows_by_identifier(site, by):
    definition = ImportDefinitionFactory(site=site)
    stage(definition, rows())
    key = lane_key_for(definition.entity, definition, mappings_for(definition))
    seen = {}
    with connection.cursor() as cur:
        cur.execute("SELECT min(id), max(id) FROM bulkapi_stagedrow WHERE definition_id = %s", [definition.pk])
        lo, hi = cur.fetchone()
        bounds = None
        if by == "key range":
            bounds = lane_bounds_sample(
                cur.cursor, definition_id=definition.pk, first=lo, last=hi, lane_key=key, lanes=3
            )
            assert bounds is not None and len(bounds) == 2
        for lane in range(3):
            source = staged_chunk(
                definition_id=definition.pk, lo=lo - 1, hi=hi, base=0, lane=lane, lanes=3, lane_key=key, bounds=bounds
            )
            cur.execute(sql.SQL("SELECT s.rec, lower(s.data ->> 'OpportunityID') FROM {} s").format(source))
            for rec, ident in cur.fetchall():
                assert rec not in seen  # in one lane only
                seen[rec] = (lane, ident)
    assert sorted(seen) == list(range(1, 121))  # every row, numbered by its place in the snapshot
    lanes_of = {}
    for lane, ident in seen.values():
        lanes_of.setdefault(ident, set()).add(lane)
    assert all(len(lanes) == 1 for lanes in lanes_of.values())
    assert len({lane for lane, _ in seen.values()}) == 3  # and the rows do spread over the lanes
    if by == "key range":  # each lane holds one stretch of the identifiers, in byte order
        keys = [sorted(ident.encode() for lane, ident in seen.values() if lane == n) for n in range(3)]
        assert keys[0][-1] < keys[1][0] and keys[1][-1] < keys[2][0]


def test_a_sorted_file_is_cut_into_even_key_ranges(settings):
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 100, 2
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [{"OpportunityID": f"OPP-{i:05d}", "OpportunityName": "n", "Stage": "Proposal", "Amount": "1"}
                       for i in range(1000)])  # fmt: skip
    assert sync.lane_bounds and 450 <= int(sync.lane_bounds[0].removeprefix("opp-")) <= 550
    key = lane_key_for(definition.entity, definition, mappings_for(definition))

    def rows_of(lane, r):
        source = staged_chunk(
            definition_id=definition.pk, lo=sync.range_ends[r - 1] if r else 0, hi=sync.range_ends[r], base=0,
            lane=lane, lanes=2, lane_key=key, bounds=sync.lane_bounds,
        )  # fmt: skip
        with connection.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {} s").format(source))
            return cur.fetchone()[0]

    # the first ranges are all lane 0's, the last ones all lane 1's
    assert (rows_of(0, 0), rows_of(1, 0), rows_of(0, 4), rows_of(1, 4)) == (200, 0, 0, 200)
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success" and Opportunity.objects.filter(site=site).count() == 1000


@pytest.mark.parametrize("lanes,by", [(1, None), (2, "key range"), (4, "key range"), (2, "hash"), (4, "hash")])
def test_the_outcome_does_not_depend_on_the_number_of_lanes(settings, lanes, by):
    settings.BULK_SYNC_CHUNK_ROWS = 7
    settings.BULK_SYNC_LANES = lanes
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, rows())
    if by == "hash":  # as a sync made before key ranges runs
        Sync.objects.filter(pk=sync.pk).update(lane_bounds=None)
    sync.refresh_from_db()
    assert (sync.lane_bounds is not None) is (by == "key range")
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.lanes == lanes and sync.status == "warning"
    assert set(SyncLane.objects.filter(sync=sync).values_list("next_range", flat=True)) == {len(sync.range_ends)}
    # 40 identifiers (case-insensitive) whose first row is stored; rows with a bad amount are rejected
    stored = dict(Opportunity.objects.filter(site=site).values_list("external_id", "name"))
    rejects = dict(Reject.objects.filter(sync=sync).values_list("record_index", "status_code"))
    first_of, expected_rejects = expected()
    assert rejects == expected_rejects
    assert sorted(stored.values()) == sorted(f"Deal {i}" for i in first_of.values() if i % 17 != 0)
    assert (sync.processed, sync.rejected, sync.created_count) == (120, len(expected_rejects), len(stored))
    assert not Sync.objects.filter(pk=sync.pk, status__in=["pending", "active"]).exists()


def test_a_range_is_deleted_from_staging_once_every_lane_is_past_it_by_the_lane_whose_turn_it_is(settings):
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 7, 2  # ranges of 14 rows
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, rows())
    staged = StagedRow.objects.filter(definition=definition)

    def run(lane, times=1):
        for _ in range(times):
            sync_run_chunk(sync_id=sync.pk, lane=lane)
        return staged.count()

    # lane 0 through range 0 (it starts lane 1), then lane 1 runs ahead through ranges 0-2
    assert run(0) == 120
    assert run(1, times=3) == 120
    # lane 0 through range 1: every lane is past ranges 0 and 1; range 0 is lane 0's turn (0 mod 2)
    assert run(0) == 120 - 14
    assert not staged.filter(id__lte=sync.range_ends[0]).exists()
    # lane 1's next chunk (range 3) deletes range 1, which it was ahead of when it ran it
    assert run(1) == 120 - 28
    assert not staged.filter(id__lte=sync.range_ends[1]).exists()
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "warning" and not staged.exists()


@pytest.mark.parametrize("interleaved", [False, True])
def test_record_indexes_count_the_snapshot_whether_or_not_its_ids_are_contiguous(settings, interleaved):
    # given: two uploads, with (or without) another definition's upload between them; a short range 0
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 7, 2, 3
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site)
    stage(definition, rows()[:55])
    if interleaved:
        stage(ImportDefinitionFactory(site=site), rows()[:5])
    stage(definition, rows()[55:])
    # when
    sync = run_sync(definition)
    # then: ids minus an offset when contiguous, counted otherwise; the same indexes either way
    assert sync.dense is not interleaved
    assert dict(Reject.objects.filter(sync=sync).values_list("record_index", "status_code")) == expected()[1]


def test_a_repeat_of_a_rejected_identifier_is_rejected_for_the_same_reason_whatever_the_lanes(settings):
    outcomes = []
    for lanes in (1, 2):
        settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 7, lanes, 100
        definition = ImportDefinitionFactory(site=SiteFactory())
        idents = [f"k{i:02d}" for i in range(30)]
        idents[0] = idents[9] = "x" * 256  # past the size limit (ELQ-00032), twice: ranges of 7 or of 14 rows
        sync = run_sync(definition, [{"OpportunityID": v, "OpportunityName": "n", "Amount": "1", "Stage": "Proposal"}
                                     for v in idents])  # fmt: skip
        outcomes.append(dict(Reject.objects.filter(sync=sync).values_list("record_index", "status_code")))
    assert outcomes[0] == outcomes[1]
