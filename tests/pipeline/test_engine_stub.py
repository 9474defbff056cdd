"""The engine's own promises, with a stub entity (tests/pipeline/stub.py) whose processor writes no
entity table: whatever the entity, a sync's counters add up, its ranges and lanes hand every staged
row to the processor exactly once (once committed), a failed chunk rolls back whole and its lane
resumes there, a chunk meeting a concurrent write runs again, an unexpected error or a cancel ends
the sync in `error` with every row accounted for, and the entity's finish logs are asked for once.

The lanes are driven in this process, round-robin (tests.pipeline.helpers.drive); the task
boundary's failure handling is the real one (`pipeline.tasks.sync_run.on_failure`).

Each test was seen to fail against a deliberately broken engine (one change at a time, reverted
after; the file run against each):
- `_commit_counters` adding `0 * {created}` to created_count: every test that ends a sync fails;
- `state.next_range += 2` in `_run` (ranges skipped): every test that ends a sync fails;
- `ROW_ERRORS` widened to `Exception` (a chunk's failure swallowed into per-row rejects): the
  resume, concurrent-write and error tests fail;
- `CONCURRENT_WRITE_ATTEMPTS = 1`: the concurrent-write retry test fails;
- `finish` not calling `_return_unprocessed`: the error and cancel tests fail (rows unaccounted);
- `finish` not asking for the entity's `finish_logs`: every test that ends a sync fails.
"""

from __future__ import annotations

import django.db
import psycopg
import pytest

from kernel.exceptions import Conflict
from pipeline.faults import ConnectionBroke, is_transient
from pipeline.models import Reject, StagedRow, Sync, SyncLane, SyncLog
from pipeline.processors import ConcurrentWrite
from pipeline.services import sync_cancel, sync_create, sync_run_chunk
from pipeline.services.run import CONCURRENT_WRITE_ATTEMPTS
from pipeline.tasks import sync_run
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import drive, stage
from tests.pipeline.stub import ENTITY, FIELDS, FINISH_LOG, MALFORMED, ledger, stub_entity

pytestmark = pytest.mark.django_db

ROWS = 120


@pytest.fixture
def stub():
    with stub_entity() as registered:
        yield registered


def value(i: int) -> str:
    return "bad" if i % 7 == 0 else "old" if i % 5 == 0 else "ok"


def rows(n: int = ROWS) -> list[dict]:
    # names out of order, so key-range lanes take rows from all over each range
    return [{"Name": f"n-{(i * 37) % 1000:03d}", "Value": value(i)} for i in range(1, n + 1)]


def outcome(i: int) -> str:
    return {"bad": "rejected", "old": "updated", "ok": "created"}[value(i)]


def start(site, user, n: int = ROWS) -> Sync:
    """Stage `n` rows for a stub definition and make its sync the way `POST /syncs` does."""
    definition = ImportDefinitionFactory(site=site, entity=ENTITY, fields=FIELDS, identifier_field_name="Name")
    if n:
        stage(definition, rows(n))
    return sync_create(site=site, user=user, body={"syncedInstanceUri": definition.uri})


def staged_ids(sync: Sync) -> list[int]:
    return list(
        StagedRow.objects.filter(definition_id=sync.definition_id, id__lte=sync.upto_id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def rejects(sync: Sync) -> dict[int, str]:
    found = list(Reject.objects.filter(sync=sync).values_list("record_index", "status_code"))
    assert len(found) == len(dict(found)), "a record rejected twice"
    return dict(found)


def logs(sync: Sync) -> dict[str, int]:
    found = list(SyncLog.objects.filter(sync=sync).values_list("status_code", "count"))
    return dict(found)


def assert_counters_add_up(sync: Sync) -> None:
    assert sync.processed == sync.created_count + sync.updated_count + sync.rejected
    assert sync.rejected == Reject.objects.filter(sync=sync).count()


def assert_every_row_once(sync: Sync, ids: list[int]) -> None:
    """Every staged row of the snapshot is either stored (committed by the processor, not rejected)
    or rejected, exactly once, under its record index (its place in the snapshot)."""
    done = ledger(sync.pk)
    assert len({sid for sid, _, _ in done}) == len(done), "a staged row committed twice"
    for sid, rec, _ in done:
        assert ids[rec - 1] == sid, f"record index {rec} is not staged row {sid}'s place"
    stored = {rec for _, rec, what in done if what != "rejected"}
    rejected = rejects(sync)
    assert not stored & set(rejected), "a row both stored and rejected"
    assert stored | set(rejected) == set(range(1, len(ids) + 1))
    assert sync.processed == sync.total_rows == len(ids)


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_every_staged_row_is_processed_once_and_the_counters_add_up(site, user, settings, stub, lanes):
    # given: 120 rows in ranges of 7 per lane, the first range shorter
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 7, lanes, 5
    sync = start(site, user)
    ids = staged_ids(sync)
    assert sync.lanes == lanes and sync.total_rows == ROWS and SyncLane.objects.filter(sync=sync).count() == lanes
    # when
    drive(sync.pk)
    # then
    sync.refresh_from_db()
    assert sync.status == "warning"
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)
    expected = [outcome(i) for i in range(1, ROWS + 1)]
    assert (sync.created_count, sync.updated_count, sync.rejected) == tuple(
        expected.count(o) for o in ("created", "updated", "rejected")
    )
    assert [what for _, _, what in ledger(sync.pk)] == expected
    assert rejects(sync) == {i: MALFORMED[0] for i in range(1, ROWS + 1) if value(i) == "bad"}
    bad = Reject.objects.filter(sync=sync).order_by("record_index").first()
    assert (bad.field_values, bad.invalid_fields) == (rows()[6], ["Value"])  # the row as staged
    # each lane ran each range once, and every lane is through; staging is emptied
    assert len(stub.calls) == lanes * len(sync.range_ends)
    assert sum(len(recs) for recs in stub.calls) == ROWS
    assert set(SyncLane.objects.filter(sync=sync).values_list("next_range", flat=True)) == {len(sync.range_ends)}
    assert not StagedRow.objects.filter(definition_id=sync.definition_id).exists()
    # the summary logs, the entity's own asked for once, with the final counts
    assert stub.finish_calls == [(sync.pk, sync.created_count)]
    found = logs(sync)
    assert found[FINISH_LOG[0]] == sync.created_count
    assert (found["ELQ-00130"], found["ELQ-00001"], found["ELQ-00049"], found["SRV-00001"], found["ELQ-00060"]) == (
        ROWS, ROWS, sync.created_count, sync.updated_count, sync.rejected
    )  # fmt: skip
    assert SyncLog.objects.filter(sync=sync, status_code=FINISH_LOG[0]).count() == 1


def test_a_sync_of_nothing_succeeds_with_its_logs(site, user, stub):
    sync = start(site, user, n=0)
    drive(sync.pk)
    sync.refresh_from_db()
    assert (sync.status, sync.processed, sync.rejected, sync.range_ends) == ("success", 0, 0, [])
    assert stub.calls == [] and stub.finish_calls == [(sync.pk, 0)]
    assert {"ELQ-00124", "ELQ-00001", FINISH_LOG[0]} <= set(logs(sync))


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_failed_chunk_commits_nothing_and_its_lane_resumes_there(site, user, settings, stub, lanes):
    # given: a chunk that fails after writing its rows (ledger, rejects) the first time it runs
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 10, lanes, 5
    sync = start(site, user)
    ids = staged_ids(sync)
    failed = []

    def fault(recs):
        if 61 in recs and not failed:
            failed.append(recs)
            return RuntimeError("the chunk fails half-way")
        return None

    stub.fault = fault
    # when
    with pytest.raises(RuntimeError, match="half-way"):
        drive(sync.pk)
    # then: the sync is still active and holds only what the chunks before committed
    sync.refresh_from_db()
    done = ledger(sync.pk)
    assert sync.status == "active" and failed and done
    assert not {rec for _, rec, _ in done} & set(failed[0])  # nothing of the failed chunk
    assert not Reject.objects.filter(sync=sync, record_index__in=failed[0]).exists()
    assert sync.processed == len(done) and sync.rejected == sum(what == "rejected" for _, _, what in done)
    assert_counters_add_up(sync)
    # when: the lanes run on (as the task's retry or beat's resume would)
    drive(sync.pk)
    # then: the failed range was run again, and every row is in once
    sync.refresh_from_db()
    assert stub.calls.count(failed[0]) == 2
    assert sync.status == "warning"
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)
    assert stub.finish_calls == [(sync.pk, sync.created_count)]


def test_a_chunk_meeting_a_concurrent_write_runs_again_and_commits_once(site, user, settings, stub):
    # given: range 1 meets a concurrent write twice, after writing its rows
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 30, 1
    sync = start(site, user)
    ids = staged_ids(sync)
    met = []

    def fault(recs):
        if 31 in recs and len(met) < 2:
            met.append(recs)
            return ConcurrentWrite("a key taken meanwhile")
        return None

    stub.fault = fault
    sync_run_chunk(sync_id=sync.pk, lane=0)  # range 0
    # when: one run of the lane's next chunk
    result = sync_run_chunk(sync_id=sync.pk, lane=0)
    # then: the chunk ran three times in that one call, and committed once
    assert result.has_more and result.next_range == 2
    assert stub.calls[1:] == [list(range(31, 61))] * 3
    assert [rec for _, rec, _ in ledger(sync.pk)] == list(range(1, 61))
    sync.refresh_from_db()
    assert sync.processed == 60
    assert_counters_add_up(sync)
    drive(sync.pk)
    sync.refresh_from_db()
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)


def test_a_chunk_that_keeps_meeting_concurrent_writes_is_left_to_the_task_to_retry(site, user, settings, stub):
    # given: range 1 meets a concurrent write every time it runs
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 30, 1
    sync = start(site, user)
    ids = staged_ids(sync)
    stub.fault = lambda recs: ConcurrentWrite("again") if 31 in recs else None
    sync_run_chunk(sync_id=sync.pk, lane=0)
    # when
    with pytest.raises(ConcurrentWrite) as raised:
        sync_run_chunk(sync_id=sync.pk, lane=0)
    # then: it gave up after its attempts, committed nothing of range 1, and the task's failure
    # handling treats it as transient: the sync stays active for the retry
    assert len(stub.calls) == 1 + CONCURRENT_WRITE_ATTEMPTS
    assert is_transient(raised.value)
    sync_run.on_failure(raised.value, "task-id", (sync.pk, 0, 1), {}, None)
    sync.refresh_from_db()
    assert (sync.status, sync.processed, SyncLane.objects.get(sync=sync).next_range) == ("active", 30, 1)
    # when: the writer is gone, the retry runs
    stub.fault = None
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "warning"
    assert_every_row_once(sync, ids)


@pytest.mark.parametrize("lanes", [1, 3])
def test_an_unexpected_error_ends_the_sync_in_error_with_every_row_accounted_for(site, user, settings, stub, lanes):
    # given: a processor bug on the chunk holding record 50
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 8, lanes, 5
    sync = start(site, user)
    ids = staged_ids(sync)
    stub.fault = lambda recs: ZeroDivisionError("a bug in the processor") if 50 in recs else None
    with pytest.raises(ZeroDivisionError) as raised:
        drive(sync.pk)
    failed = stub.calls[-1]
    before = ledger(sync.pk)
    # when: the task's boundary handles it
    sync_run.on_failure(raised.value, "task-id", (sync.pk, 0), {}, None)
    # then: error, the bug's text kept out of what the tenant reads, and every row accounted for:
    # what chunks committed stays, the rest are SRV-00100 rejects (the failed chunk's rows too)
    sync.refresh_from_db()
    assert sync.status == "error" and "reference" in sync.error_message and "bug" not in sync.error_message
    assert ledger(sync.pk) == before
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)
    found = rejects(sync)
    not_reached = {rec for rec, code in found.items() if code == "SRV-00100"}
    assert not_reached == set(range(1, ROWS + 1)) - {rec for _, rec, _ in before}
    assert set(failed) <= not_reached
    by_rec = {r.record_index: r.field_values for r in Reject.objects.filter(sync=sync)}
    assert all(by_rec[rec] == rows()[rec - 1] for rec in not_reached)  # each as staged, for a retry
    assert stub.finish_calls == [(sync.pk, sync.created_count)]
    assert logs(sync)["ELQ-00001"] == ROWS and "SRV-00103" in logs(sync)
    # and nothing runs after: the lanes find the sync ended
    stub.fault = None
    calls = len(stub.calls)
    for lane in range(lanes):
        assert not sync_run_chunk(sync_id=sync.pk, lane=lane).has_more
    assert len(stub.calls) == calls and ledger(sync.pk) == before


def test_a_cancel_mid_sync_returns_the_rows_not_reached_and_stops_the_lanes(site, user, settings, stub):
    # given: a sync of two lanes, three chunks in
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 10, 2, 5
    sync = start(site, user)
    ids = staged_ids(sync)
    drive(sync.pk, chunks=4)
    before = ledger(sync.pk)
    assert 0 < len(before) < ROWS
    # when
    sync_cancel(sync_id=sync.pk, by="alice")
    # then
    sync.refresh_from_db()
    assert (sync.status, sync.cancelled_by) == ("error", "alice")
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)
    cancelled = {rec for rec, code in rejects(sync).items() if code == "SRV-00101"}
    assert cancelled == set(range(1, ROWS + 1)) - {rec for _, rec, _ in before}
    assert "SRV-00102" in logs(sync) and stub.finish_calls == [(sync.pk, sync.created_count)]
    # and the lanes do nothing more; a second cancel is refused
    calls = len(stub.calls)
    drive(sync.pk)
    for lane in range(2):
        sync_run_chunk(sync_id=sync.pk, lane=lane)
    assert len(stub.calls) == calls and ledger(sync.pk) == before
    with pytest.raises(Conflict):
        sync_cancel(sync_id=sync.pk, by="bob")
    assert stub.finish_calls == [(sync.pk, sync.created_count)]


def test_the_stub_is_registered_for_its_block_only():
    from pipeline.catalog import entity_specs
    from pipeline.processors import registration_for

    def known() -> bool:
        return ENTITY in {spec.entity for spec in entity_specs()}

    assert not known()
    with stub_entity():
        assert known() and registration_for(ENTITY)
    assert not known()
    with pytest.raises(NotImplementedError):
        registration_for(ENTITY)


def _db_internal_error(cause: Exception) -> django.db.InternalError:
    exc = django.db.InternalError(str(cause))
    exc.__cause__ = cause
    return exc


def test_a_connection_that_breaks_inside_a_command_pauses_the_sync_and_a_server_internal_error_ends_it(
    site, user, settings, stub
):
    # given: the chunk holding record 50 meets what a PostgreSQL restart mid-COMMIT through PgBouncer
    # gives (psycopg's own InternalError, no SQLSTATE: seen in the PgBouncer fault test)
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 8, 1, 5
    sync = start(site, user)
    ids = staged_ids(sync)
    broke = psycopg.InternalError("received 2 results from command 'COMMIT'")
    stub.fault = lambda recs: _db_internal_error(broke) if 50 in recs else None
    # when: the real task runs the lane (called in this process; its retry raises what it retries on)
    with pytest.raises(ConnectionBroke) as raised:
        while True:
            sync_run(sync.pk, 0, SyncLane.objects.get(sync_id=sync.pk, lane=0).next_range)
    # then: transient, so the task's failure handling leaves the sync active for the retry
    assert is_transient(raised.value)
    sync_run.on_failure(raised.value, "task-id", (sync.pk, 0), {}, None)
    sync.refresh_from_db()
    assert sync.status == "active"
    # and the retry finishes it, every row once
    stub.fault = None
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "warning"
    assert_every_row_once(sync, ids)
    assert_counters_add_up(sync)

    # given: the server's own internal error (SQLSTATE XX000) is no lost connection
    other = start(site, user)
    stub.fault = lambda recs: (
        _db_internal_error(psycopg.errors.InternalError_("index corrupted")) if 50 in recs else None
    )
    # when
    with pytest.raises(django.db.InternalError) as raised:
        while True:
            sync_run(other.pk, 0, SyncLane.objects.get(sync_id=other.pk, lane=0).next_range)
    # then: not transient, so it ends the sync in error
    assert not isinstance(raised.value, ConnectionBroke) and not is_transient(raised.value)
    sync_run.on_failure(raised.value, "task-id", (other.pk, 0), {}, None)
    other.refresh_from_db()
    assert other.status == "error"
